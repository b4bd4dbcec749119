"""A checker that is a program (a problem's own, testlib style), run in its own sandbox.

It is compiled once per request like any program, then run once per test with three files
in its work dir and the testlib argv ``checker input.txt output.txt answer.txt``: the
test's input, the solution's stdout, the expected answer. Its exit code is the testlib
convention: 0 accepted, 1 wrong answer, 2 presentation error (a WA, said so in the
feedback), 3 the checker failed (IE); anything else (another code, a signal, a limit) is
the checker's failure too (IE). Its stderr (else its stdout) is the feedback, capped.
"""

from __future__ import annotations

from dataclasses import dataclass

from execbox.judge.checkers import CheckResult
from execbox.judge.ports import ProgramRunner
from execbox.judge.verdicts import Verdict
from execbox.runner.runner import Prepared
from execbox.sandbox.spec import SandboxFile
from execbox.types import StageResult, Status

INPUT, OUTPUT, ANSWER = "input.txt", "output.txt", "answer.txt"
ARGV = (INPUT, OUTPUT, ANSWER)

_TESTLIB = {0: Verdict.AC, 1: Verdict.WA, 2: Verdict.WA, 3: Verdict.IE}


def from_testlib(stage: StageResult, feedback_chars: int = 4096) -> CheckResult:
    """The checker's run → the test's verdict and feedback (pure)."""
    said = _said(stage, feedback_chars)
    if stage.status is Status.OK or stage.status is Status.RUNTIME_ERROR:
        code = stage.exit_code if stage.exit_code is not None else -1
        verdict = _TESTLIB.get(code)
        if verdict is None:
            return CheckResult(Verdict.IE, _join(f"the checker exited with {code}, not a "
                                                 "testlib code (0-3)", said))
        if code == 2:
            return CheckResult(Verdict.WA, _join("presentation error", said))
        if code == 3:
            return CheckResult(Verdict.IE, _join("the checker failed", said))
        return CheckResult(verdict, said or None)
    return CheckResult(Verdict.IE, _join(f"the checker ended with {stage.summary()}",
                                         stage.message or said))


@dataclass(frozen=True, slots=True)
class ProgramChecker:
    """A compiled checker: ``check(input, output, expected)`` runs it once, sandboxed."""

    runner: ProgramRunner
    prepared: Prepared
    feedback_chars: int = 4096

    def check(self, input_: bytes, output: bytes, expected: bytes) -> CheckResult:
        files = (SandboxFile(INPUT, input_), SandboxFile(OUTPUT, output),
                 SandboxFile(ANSWER, expected))
        stage = self.runner.run_prepared(self.prepared, b"", files)
        return from_testlib(stage, self.feedback_chars)


def _said(stage: StageResult, limit: int) -> str:
    text = (stage.stderr.strip() or stage.stdout.strip()).decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "..."


def _join(what: str, said: str | None) -> str:
    return f"{what}: {said}" if said else what
