"""Checkers: does a program's output answer the test? Plain functions, no sandbox.

Each is ``check(output, expected, **options) -> CheckResult``; ``output`` and ``expected``
are text (the judge decodes bytes as UTF-8, undecodable bytes kept distinct). Every
checker but ``exact`` reads ``\\r\\n`` as ``\\n``, so output compares equal whatever host
or language wrote it.

- ``exact``     byte for byte.
- ``lines``     line by line, trailing whitespace of each line and blank lines at the end
                ignored: Judge0's comparison of ``stdout`` with ``expected_output``.
- ``tokens``    (the default) the same whitespace-separated tokens, spacing ignored.
- ``float``     token by token; where the expected token is a number, the output's must be
                a number within ``epsilon`` (absolute; with ``relative``, absolute or
                relative: ``|x - y| <= epsilon * max(1, |y|)``); other tokens exactly.
- ``unordered`` the same lines in any order (as ``lines`` compares each line).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from execbox.errors import ConfigError
from execbox.judge.verdicts import Verdict

# what Judge0 (Ruby's String#rstrip) strips at the end of a line
_TRAILING = " \t\n\v\f\r\x00"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)",
                     re.IGNORECASE)
_SPACE = re.compile(r"[ \t\n\v\f\r]+")  # ASCII whitespace only, as testlib
_SHOW = 60  # characters of a token or line quoted in feedback


@dataclass(frozen=True, slots=True)
class CheckResult:
    verdict: Verdict
    feedback: str | None = None  # why (the first difference), for people

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.AC


ACCEPTED = CheckResult(Verdict.AC)


def wrong(feedback: str) -> CheckResult:
    return CheckResult(Verdict.WA, feedback)


def exact(output: str, expected: str) -> CheckResult:
    if output == expected:
        return ACCEPTED
    at = next((i for i, (a, b) in enumerate(zip(output, expected, strict=False)) if a != b),
              min(len(output), len(expected)))
    line = expected.count("\n", 0, at) + 1
    return wrong(f"differs at byte {at} (line {line}): expected {_quote(expected[at:at + 20])},"
                 f" got {_quote(output[at:at + 20])}")


def lines(output: str, expected: str) -> CheckResult:
    got, want = _lines(output), _lines(expected)
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return wrong(f"line {i + 1}: expected {_quote(b)}, got {_quote(a)}")
    if len(got) != len(want):
        return wrong(f"expected {len(want)} line(s), got {len(got)}")
    return ACCEPTED


def tokens(output: str, expected: str) -> CheckResult:
    got, want = _tokens(output), _tokens(expected)
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return wrong(f"token {i + 1}: expected {_quote(b)}, got {_quote(a)}")
    return _count(len(got), len(want))


def float_tokens(output: str, expected: str, epsilon: float = 1e-6,
                 relative: bool = False) -> CheckResult:
    got, want = _tokens(output), _tokens(expected)
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if not _NUMBER.fullmatch(b):
            if a != b:
                return wrong(f"token {i + 1}: expected {_quote(b)}, got {_quote(a)}")
            continue
        if not _NUMBER.fullmatch(a):
            return wrong(f"token {i + 1}: expected a number like {_quote(b)}, "
                         f"got {_quote(a)}")
        x, y = float(a), float(b)
        if not _close(x, y, epsilon, relative):
            kind = "absolute or relative" if relative else "absolute"
            return wrong(f"token {i + 1}: expected {b}, got {a} ({kind} error over "
                         f"{epsilon:g})")
    return _count(len(got), len(want))


def unordered(output: str, expected: str) -> CheckResult:
    got, want = Counter(_lines(output)), Counter(_lines(expected))
    missing, extra = want - got, got - want
    if missing:
        line = next(iter(missing))
        return wrong(f"{sum(missing.values())} expected line(s) missing, e.g. {_quote(line)}")
    if extra:
        line = next(iter(extra))
        return wrong(f"{sum(extra.values())} unexpected line(s), e.g. {_quote(line)}")
    return ACCEPTED


Check = Callable[[str, str], CheckResult]

BUILTIN: dict[str, Callable[..., CheckResult]] = {
    "exact": exact, "lines": lines, "tokens": tokens, "float": float_tokens,
    "unordered": unordered,
}
DEFAULT = "tokens"
_OPTIONS: dict[str, dict[str, type]] = {"float": {"epsilon": float, "relative": bool}}


def builtin(name: str, options: Mapping[str, Any] | None = None) -> Check:
    """The named checker with its options bound; ConfigError for a bad name or option."""
    function = BUILTIN.get(name)
    if function is None:
        raise ConfigError(f"unknown checker {name!r} (known: {', '.join(BUILTIN)}, program)")
    options = dict(options or {})
    allowed = _OPTIONS.get(name, {})
    for key, value in options.items():
        kind = allowed.get(key)
        if kind is None:
            raise ConfigError(f"checker {name} has no option {key!r}")
        if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"checker {name}: {key} must be a number")
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f"checker {name}: {key} must be true or false")
    epsilon = options.get("epsilon")
    if epsilon is not None and not (0 <= epsilon < math.inf):
        raise ConfigError(f"checker {name}: epsilon must be a finite number >= 0")

    def check(output: str, expected: str) -> CheckResult:
        return function(output, expected, **options)

    return check


def _lines(text: str) -> list[str]:
    out = [line.rstrip(_TRAILING) for line in text.replace("\r\n", "\n").split("\n")]
    while out and not out[-1]:
        out.pop()
    return out


def _tokens(text: str) -> list[str]:
    return [token for token in _SPACE.split(text) if token]


def _count(got: int, want: int) -> CheckResult:
    if got < want:
        return wrong(f"the output ended after {got} token(s), expected {want}")
    if got > want:
        return wrong(f"extra output: {got} token(s), expected {want}")
    return ACCEPTED


def _close(x: float, y: float, epsilon: float, relative: bool) -> bool:
    if math.isnan(y) or math.isnan(x):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(y) or math.isinf(x):
        return x == y
    bound = epsilon * max(1.0, abs(y)) if relative else epsilon
    return abs(x - y) <= bound + 1e-15


def _quote(text: str) -> str:
    """Text for feedback: short, printable, valid UTF-8 (surrogate escapes shown as \\x..)."""
    shown = text if len(text) <= _SHOW else text[:_SHOW] + "..."
    return repr(shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
