"""The programs every level runs: hello world in Python, C and Java.

Compiled once per benchmark, inside a sandbox (the language's own compile argv, limits
and mounts, exactly as the runner compiles a request); the artifacts are then written to
a host directory for the levels that start the program on the host (bare, the layer
ladder before its read-only root, the peers). Compiling on the host would also be fine
here, since the source is the benchmark's own fixed text, but the sandbox needs nothing
more than what execbox has already.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from execbox.bench.errors import BenchError
from execbox.languages.language import Language
from execbox.runner.runner import RunnerSettings, RunRequest, resolve_limits
from execbox.sandbox.namespace_backend import BASE_ENV, NamespaceBackend
from execbox.sandbox.spec import BindMount, SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import Limits, Status

EXPECTED = b"hello\n"
_RUNTIME_WARNING = re.compile(r"^\[[0-9.]+s\]\[warning\]")  # HotSpot: [0.001s][warning][..]
HELLO: dict[str, str] = {
    "python": 'print("hello")\n',
    "c": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    "java": 'public class Main {\n    public static void main(String[] args) {\n'
            '        System.out.println("hello");\n    }\n}\n',
}
LANGUAGES = tuple(HELLO)

__all__ = ["EXPECTED", "HELLO", "LANGUAGES", "BenchError", "Program", "prepare"]


@dataclass(frozen=True, slots=True)
class Program:
    """One hello world, ready to run at every level."""

    language: str  # "python", "c", "java"
    version: str
    source: SandboxFile  # what a request sends
    files: tuple[SandboxFile, ...]  # what a run needs in its work dir (source or artifacts)
    host_dir: str  # the same files on the host
    argv: tuple[str, ...]  # the run argv, relative to the work dir
    env: dict[str, str]  # the language's own variables
    full_env: dict[str, str]  # PATH + execbox's base environment + the language's
    limits: Limits  # the run limits a request gets by default
    mounts: tuple[BindMount, ...]  # the language's extra read-only paths

    @property
    def request(self) -> RunRequest:
        return RunRequest(self.language, (self.source,))

    @property
    def spec(self) -> SandboxSpec:
        """A cold run of the compiled program (what the runner hands the backend)."""
        return SandboxSpec(argv=self.argv, files=self.files, env=self.env,
                           limits=self.limits, mounts=self.mounts)

    def check(self, exit_code: int | None, stdout: bytes, stderr: bytes = b"") -> str | None:
        """BenchError unless the run exited 0 and printed hello. A run whose hello comes
        after runtime warnings only (a JVM's unified-logging ``[...][warning]...`` lines)
        still counts; the first warning is returned so that the benchmark reports it."""
        if exit_code == 0 and stdout == EXPECTED:
            return None
        if exit_code == 0 and stdout.endswith(b"\n" + EXPECTED):
            before = stdout[:-len(EXPECTED)].decode(errors="replace").splitlines()
            if before and all(_RUNTIME_WARNING.match(line) for line in before):
                return before[0]
        raise BenchError(f"{self.language} hello: exit {exit_code}, stdout "
                         f"{stdout[:200]!r}, stderr {stderr[:300]!r}")


def prepare(lang: Language, backend: NamespaceBackend, settings: SandboxSettings,
            runner: RunnerSettings, host_dir: str) -> Program:
    """Compile (if needed) ``lang``'s hello in a sandbox and lay its files out in
    ``host_dir``; BenchError if compiling fails."""
    text = HELLO[lang.name]
    source = SandboxFile(lang.source, text.encode())
    limits = resolve_limits(runner.run_defaults, lang.run_limits, {}, runner.run_caps, "run")
    env = dict(lang.env)
    files: tuple[SandboxFile, ...] = (source,)
    if lang.compiled:
        compile_limits = resolve_limits(runner.compile_defaults, lang.compile_limits, {},
                                        runner.compile_caps, "compile")
        result = backend.run(SandboxSpec(
            argv=lang.compile_argv(source.name, limits=compile_limits), files=(source,),
            env=env, limits=compile_limits, mounts=lang.mounts, collect=lang.artifacts))
        if result.status is not Status.OK or not result.files:
            raise BenchError(f"compiling the {lang.name} hello failed: {result.summary()} "
                             f"{result.stderr[:500]!r}")
        files = tuple(SandboxFile(name, data, executable=True)
                      for name, data in sorted(result.files.items()))
    os.makedirs(host_dir, mode=0o755, exist_ok=True)
    for f in files:
        path = os.path.join(host_dir, f.name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o755 if f.executable else 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(f.content)
    full_env = {"PATH": settings.path_env, **BASE_ENV, **env}
    return Program(language=lang.name, version=lang.version, source=source, files=files,
                   host_dir=host_dir, argv=lang.run_argv(source.name, limits=limits),
                   env=env, full_env=full_env, limits=limits, mounts=lang.mounts)
