"""One language as data: the ``Language`` record and the parser of its TOML file.

A data file (``languages/data/<name>.toml``) declares how to compile and run programs of
one language and a self-test program with its expected output. Every problem in a file is
a ConfigError naming the file and the key, found when the registry loads. Keys:

    name, display, aliases, extensions    lowercase; names, aliases, extensions unique
    source                                entry-file name when a request gives only code
    version_package, packages             Debian: whose version is shown; what setup installs
    compile (optional), artifacts, run    argv lists run in /box; argv[0] absolute (run may
                                          be ./artifact); {source} {stem} {memory_mb}
    mounts, requires                      extra read-only host paths; paths that must exist
    zygote                                "python" (a preloaded interpreter) or empty
    [env] [compile_limits] [run_limits]   environment and Limits overrides of the stages
    [selftest] code, stdin, expected      an a+b program
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from execbox.errors import ConfigError
from execbox.sandbox.spec import BindMount, check_relative_path
from execbox.types import Limits

SOURCE = "{source}"  # placeholders of an argv: the entry file's name,
STEM = "{stem}"  # that name without its extension ("Main" of "Main.java"),
MEMORY_MB = "{memory_mb}"  # and the stage's memory limit (a JVM's -XX:MaxRAM={memory_mb}m)
_PLACEHOLDERS = (SOURCE, STEM, MEMORY_MB)
UNKNOWN_VERSION = "unknown"

_NAME = re.compile(r"^[a-z][a-z0-9_+#.-]*$")
_EXTENSION = re.compile(r"^[A-Za-z0-9_+-]+$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")  # {source}-like words only: "${1}", "{ a; }" pass
_LIMIT_NAMES = frozenset(f.name for f in fields(Limits))
_ZYGOTES = frozenset({"python"})
_KEYS = frozenset({
    "name", "display", "aliases", "extensions", "source", "version_package", "packages",
    "compile", "artifacts", "run", "mounts", "requires", "zygote", "env",
    "compile_limits", "run_limits", "selftest",
})
_SELFTEST_KEYS = frozenset({"code", "stdin", "expected"})


@dataclass(frozen=True, slots=True)
class SelfTest:
    """A program that must print ``expected`` when fed ``stdin`` (an a+b program)."""

    code: str
    stdin: str
    expected: str


@dataclass(frozen=True, slots=True, eq=False)
class Language:
    """How to compile (optionally) and run programs of one language on this host."""

    name: str
    display: str
    source: str  # default entry-file name
    run: tuple[str, ...]
    selftest: SelfTest
    version: str = UNKNOWN_VERSION  # upstream version of version_package, set by the registry
    version_package: str = ""
    packages: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    compile: tuple[str, ...] | None = None
    artifacts: tuple[str, ...] = ()
    mounts: tuple[BindMount, ...] = ()
    requires: tuple[str, ...] = ()
    zygote: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    compile_limits: Mapping[str, int] = field(default_factory=dict)
    run_limits: Mapping[str, int] = field(default_factory=dict)
    path: str = ""  # the data file it came from

    @property
    def compiled(self) -> bool:
        return self.compile is not None

    def compile_argv(self, source: str, limits: Limits | None = None) -> tuple[str, ...]:
        """The compile argv for entry file ``source``; ``limits`` are the stage's resolved
        limits (without them ``{memory_mb}`` is the language's own compile memory)."""
        if self.compile is None:
            raise ConfigError(f"language {self.name} has no compile step")
        memory = limits.memory_mb if limits else _own_memory(self.compile_limits)
        return _substitute(self.compile, source, memory)

    def run_argv(self, source: str, args: Sequence[str] = (),
                 limits: Limits | None = None) -> tuple[str, ...]:
        """The run argv, the request's ``args`` appended (see ``compile_argv``)."""
        memory = limits.memory_mb if limits else _own_memory(self.run_limits)
        return _substitute(self.run, source, memory) + tuple(args)

    def host_paths(self) -> tuple[str, ...]:
        """The absolute programs this language executes (compile and run argv[0])."""
        argv0 = [self.run[0]] + ([self.compile[0]] if self.compile else [])
        return tuple(dict.fromkeys(p for p in argv0 if os.path.isabs(p)))


def _own_memory(overrides: Mapping[str, int]) -> int:
    return overrides.get("memory_mb", Limits().memory_mb)


def _substitute(argv: tuple[str, ...], source: str, memory_mb: int) -> tuple[str, ...]:
    stem = os.path.splitext(os.path.basename(source))[0]
    return tuple(a.replace(SOURCE, source).replace(STEM, stem)
                 .replace(MEMORY_MB, str(memory_mb)) for a in argv)


def load_file(path: str) -> Language:
    """Parse and validate one data file; its name must match the file's stem."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    lang = parse(data, path)
    stem = os.path.splitext(os.path.basename(path))[0]
    if lang.name != stem:
        raise ConfigError(f"{path}: name {lang.name!r} must match the file name {stem!r}")
    return lang


def parse_text(text: str, origin: str = "<string>") -> Language:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    return parse(data, origin)


def parse(data: Mapping[str, Any], origin: str) -> Language:
    """Build a Language from a decoded TOML table; ``origin`` names it in errors."""
    p = _Parser(origin)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise p.error(unknown[0], f"unknown key (known: {', '.join(sorted(_KEYS))})")
    name = p.string(data, "name")
    if not _NAME.match(name):
        raise p.error("name", f"{name!r} must be lowercase letters, digits and _+#.-")
    compile_argv = p.argv(data, "compile", required=False)
    artifacts = p.strings(data, "artifacts")
    for a in artifacts:
        p.relative(a, "artifacts")
    if compile_argv is not None and not artifacts:
        raise p.error("artifacts", "a compiled language must keep at least one file")
    if compile_argv is None and artifacts:
        raise p.error("artifacts", "only a language with `compile` has artifacts")
    run = p.argv(data, "run", required=True)
    assert run is not None
    if not (os.path.isabs(run[0]) or (compile_argv is not None and run[0].startswith("./"))):
        raise p.error("run", "argv[0] must be an absolute path (or ./artifact when compiled)")
    source = p.string(data, "source")
    p.relative(source, "source")
    extensions = tuple(e.lower() for e in p.strings(data, "extensions"))
    if len(set(extensions)) != len(extensions):
        raise p.error("extensions", "has duplicates (extensions are matched lowercased)")
    for e in extensions:
        if not _EXTENSION.match(e):
            raise p.error("extensions", f"{e!r}: give extensions without the dot")
    packages = p.strings(data, "packages")
    version_package = p.string(data, "version_package")
    for pkg in (*packages, version_package):
        if not _PACKAGE.match(pkg):
            raise p.error("packages", f"{pkg!r} is not a Debian package name")
    requires = p.strings(data, "requires")
    for r in requires:
        if not os.path.isabs(r):
            raise p.error("requires", f"{r!r} must be an absolute path")
    zygote = p.string(data, "zygote", default="") or None
    if zygote is not None and zygote not in _ZYGOTES:
        raise p.error("zygote", f"{zygote!r} is not one of: {', '.join(sorted(_ZYGOTES))}")
    aliases = tuple(a.lower() for a in p.strings(data, "aliases"))
    if len(set(aliases)) != len(aliases) or name in aliases:
        raise p.error("aliases", "has duplicates (aliases are matched lowercased)")
    for a in aliases:
        if not _NAME.match(a):
            raise p.error("aliases", f"{a!r} must be lowercase letters, digits and _+#.-")
    return Language(
        name=name,
        display=p.string(data, "display", default=name),
        source=source,
        run=run,
        selftest=p.selftest(data),
        version_package=version_package,
        packages=packages,
        aliases=aliases,
        extensions=extensions,
        compile=compile_argv,
        artifacts=artifacts,
        mounts=p.mounts(data),
        requires=requires,
        zygote=zygote,
        env=p.env(data),
        compile_limits=p.limits(data, "compile_limits"),
        run_limits=p.limits(data, "run_limits"),
        path=origin,
    )


class _Parser:
    """Typed getters that raise a ConfigError naming the file and the key."""

    def __init__(self, origin: str, prefix: str = "") -> None:
        self.origin = origin
        self.prefix = prefix  # "selftest." for the keys of a sub-table

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.origin}: key {self.prefix + key!r}: {problem}")

    def string(self, data: Mapping[str, Any], key: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None:
            raise self.error(key, "is required")
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {type(value).__name__}")
        if "\x00" in value:
            raise self.error(key, "must not contain NUL")
        return value

    def strings(self, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "must be a list of non-empty strings")
        if len(set(value)) != len(value):
            raise self.error(key, "has duplicates")
        return tuple(value)

    def argv(self, data: Mapping[str, Any], key: str, *, required: bool) -> tuple[str, ...] | None:
        if key not in data:
            if required:
                raise self.error(key, "is required")
            return None
        value = data[key]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a non-empty list of strings (an argv)")
        if any("\x00" in v for v in value):
            raise self.error(key, "must not contain NUL")
        for v in value:
            for ph in _PLACEHOLDER.findall(v):
                if ph not in _PLACEHOLDERS:
                    raise self.error(key, f"unknown placeholder {ph} (known: "
                                     f"{', '.join(_PLACEHOLDERS)})")
        if key == "compile" and not os.path.isabs(value[0]):
            raise self.error(key, f"argv[0] must be an absolute path, not {value[0]!r}")
        return tuple(value)

    def relative(self, name: str, key: str) -> None:
        try:
            check_relative_path(name)
        except ConfigError as exc:
            raise self.error(key, str(exc)) from None

    def mounts(self, data: Mapping[str, Any]) -> tuple[BindMount, ...]:
        value = data.get("mounts", [])
        if not isinstance(value, list):
            raise self.error("mounts", "must be a list of paths or {source, target, optional}")
        out: list[BindMount] = []
        sub = _Parser(self.origin, "mounts.")
        for item in value:
            if isinstance(item, str):
                source, target, optional = item, item, False
            elif isinstance(item, dict):
                extra = sorted(set(item) - {"source", "target", "optional"})
                if extra:
                    raise self.error("mounts", f"unknown key {extra[0]!r}")
                source = sub.string(item, "source")
                target = sub.string(item, "target", default=source)
                optional = item.get("optional", False)
                if not isinstance(optional, bool):
                    raise sub.error("optional", "must be true or false")
            else:
                raise self.error("mounts", f"bad entry {item!r}")
            try:
                out.append(BindMount(source, target, optional=optional))
            except ConfigError as exc:
                raise self.error("mounts", str(exc)) from None
        if len({m.target for m in out}) != len(out):
            raise self.error("mounts", "two mounts have the same target")
        return tuple(out)

    def env(self, data: Mapping[str, Any]) -> dict[str, str]:
        value = data.get("env", {})
        if not isinstance(value, dict):
            raise self.error("env", "must be a table of NAME = \"value\"")
        for k, v in value.items():
            if not _ENV_NAME.match(k):
                raise self.error("env", f"bad variable name {k!r}")
            if not isinstance(v, str) or "\x00" in v:
                raise self.error("env", f"{k} must be a string without NUL")
        return dict(value)

    def limits(self, data: Mapping[str, Any], key: str) -> dict[str, int]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, "must be a table of limit = integer")
        for k, v in value.items():
            if k not in _LIMIT_NAMES:
                raise self.error(key, f"unknown limit {k!r} (known: "
                                 f"{', '.join(sorted(_LIMIT_NAMES))})")
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise self.error(key, f"{k} must be a positive integer, not {v!r}")
        return dict(value)

    def selftest(self, data: Mapping[str, Any]) -> SelfTest:
        value = data.get("selftest")
        if not isinstance(value, dict):
            raise self.error("selftest", "is required: a table with code, stdin, expected")
        extra = sorted(set(value) - _SELFTEST_KEYS)
        if extra:
            raise self.error("selftest", f"unknown key {extra[0]!r}")
        sub = _Parser(self.origin, "selftest.")
        code = sub.string(value, "code")
        test = SelfTest(code, sub.string(value, "stdin", default=""),
                        sub.string(value, "expected"))
        if not code.strip() or not test.expected:
            raise self.error("selftest", "code and expected must not be empty")
        return test
