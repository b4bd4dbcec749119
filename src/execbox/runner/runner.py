"""One request: resolve the language, compile (cached) in a sandbox, run in a sandbox.

The runner is the only caller of the pool. Limits are the language's defaults, then the
request's; a request over the server's caps is refused (ConfigError), never clamped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from execbox.errors import ConfigError
from execbox.languages.language import Language
from execbox.languages.zygotes import source as zygote_source
from execbox.languages.zygotes import target as zygote_target
from execbox.pool import Flavor, WarmPool
from execbox.runner.compile_cache import CompileCache, cache_key
from execbox.sandbox.backend import SandboxBackend
from execbox.sandbox.interaction import Interaction
from execbox.sandbox.spec import SandboxFile, SandboxSpec, Stop
from execbox.types import Limits, StageResult, Status

MIB = 1024 * 1024


class LanguageSource(Protocol):
    """What the runner needs of a language registry."""

    def get(self, name: str, version: str | None = None) -> Language: ...

    def available(self) -> list[Language]: ...


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    run_defaults: Limits = field(default_factory=Limits)
    run_caps: Limits = field(default_factory=lambda: Limits(
        cpu_time_ms=20_000, wall_time_ms=30_000, memory_mb=2048, processes=256,
        output_bytes=16 * MIB, file_size_mb=256))
    compile_defaults: Limits = field(default_factory=lambda: Limits(
        cpu_time_ms=15_000, wall_time_ms=30_000, memory_mb=1024, processes=128,
        output_bytes=1 * MIB, file_size_mb=256))
    compile_caps: Limits = field(default_factory=lambda: Limits(
        cpu_time_ms=60_000, wall_time_ms=90_000, memory_mb=4096, processes=256,
        output_bytes=4 * MIB, file_size_mb=1024))
    # How a language with a zygote (Python) is kept warm: "fork" forks each sandbox's
    # interpreter from a template spawner that has it loaded (sandbox/template.py: no
    # interpreter start per sandbox, ~3x the throughput of "exec", a few hundred KiB per
    # warm sandbox); "exec" starts an interpreter in each warm sandbox. A pool that reuses
    # sandboxes (max_uses > 1) uses "exec": a forked program is for one run.
    zygote_mode: str = "fork"

    def __post_init__(self) -> None:
        if self.zygote_mode not in ("exec", "fork"):
            raise ConfigError("zygote_mode must be exec or fork")


@dataclass(frozen=True, slots=True)
class RunRequest:
    language: str
    files: tuple[SandboxFile, ...]  # the first one is the entry point
    version: str | None = None
    stdin: bytes = b""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)
    compile_limits: Mapping[str, int] = field(default_factory=dict)
    # set from any thread: its compile and runs end now (SandboxSpec.stop); each request
    # its own (a copy made with ``replace`` shares it)
    stop: Stop = field(default_factory=Stop, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.files:
            raise ConfigError("a request needs code or at least one file")


@dataclass(slots=True)
class RunResult:
    language: str
    version: str
    status: Status
    compile: StageResult | None
    run: StageResult | None
    compile_cached: bool = False

    def run_status(self) -> Status | None:
        return self.run.status if self.run else None

    def as_json(self) -> dict[str, Any]:
        return {
            "language": self.language, "version": self.version, "status": self.status.value,
            "compile": self.compile.as_json() if self.compile else None,
            "run": self.run.as_json() if self.run else None,
        }


@dataclass(frozen=True, slots=True)
class Prepared:
    """A program ready to run: compiled (or refused by its compiler), limits resolved."""

    language: Language
    status: Status  # ok, compile_error or internal_error (compiling failed for execbox)
    compile: StageResult | None  # None: an interpreted language
    files: tuple[SandboxFile, ...]  # the artifacts, or the sources when interpreted
    argv: tuple[str, ...]
    env: Mapping[str, str]
    limits: Limits  # of each run
    cached: bool = False  # the compile stage came from the cache
    stop: Stop | None = None  # the request's (RunRequest.stop)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def _ran(prepared: Prepared, result: StageResult) -> RunResult:
    """The result of a prepared program's run."""
    return RunResult(prepared.language.name, prepared.language.version, result.status,
                     prepared.compile, result, prepared.cached)


def resolve_limits(defaults: Limits, language: Mapping[str, int],
                   request: Mapping[str, int], caps: Limits, stage: str) -> Limits:
    """Defaults, then the language's, then the request's; over a cap is an error."""
    try:
        limits = defaults.merged(dict(language)).merged(dict(request))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{stage} limits: {exc}") from exc
    over = limits.exceeding(caps)
    if over:
        raise ConfigError(f"{stage} limits over the server's caps: " + ", ".join(
            f"{name} {getattr(limits, name)} > {getattr(caps, name)}" for name in over))
    return limits


class Runner:
    def __init__(self, backend: SandboxBackend, languages: LanguageSource,
                 cache: CompileCache | None = None, pool: WarmPool | None = None,
                 settings: RunnerSettings | None = None) -> None:
        self.backend = backend
        self.languages = languages
        self.cache = cache
        self.pool = pool
        self.settings = settings or RunnerSettings()

    def check(self, request: RunRequest) -> None:
        """Raise ConfigError for a request that ``run`` would refuse (language, limits)."""
        lang = self.languages.get(request.language, request.version)
        s = self.settings
        resolve_limits(s.run_defaults, lang.run_limits, request.limits, s.run_caps, "run")
        if lang.compiled:
            resolve_limits(s.compile_defaults, lang.compile_limits, request.compile_limits,
                           s.compile_caps, "compile")

    def run(self, request: RunRequest) -> RunResult:
        prepared = self.prepare(request)
        if not prepared.ok:
            return RunResult(prepared.language.name, prepared.language.version,
                             prepared.status, prepared.compile, None)
        return _ran(prepared, self.run_prepared(prepared, request.stdin))

    async def run_async(self, request: RunRequest) -> RunResult | None:
        """``run`` on the event loop, for a program with nothing to compile whose flavor
        has a warm sandbox ready now (``WarmPool.run_async``); None, having done nothing,
        otherwise: the caller then calls ``run`` from a thread. Saves a request the two
        thread hops (there, and back to the loop) of a run from a thread."""
        lang = self.languages.get(request.language, request.version)
        flavor = f"{lang.name}:run"
        if lang.compiled or self.pool is None or not self.pool.has(flavor):
            return None
        prepared = self.prepare(request)
        spec = _run_spec(prepared, (), prepared.limits, stdin=request.stdin)
        result = await self.pool.run_async(flavor, spec)
        return None if result is None else _ran(prepared, result)

    def prepare(self, request: RunRequest) -> Prepared:
        """Resolve the language and limits and compile (sandboxed, cached) once; the result
        runs any number of times with ``run_prepared`` (a judge: once per test)."""
        lang = self.languages.get(request.language, request.version)
        s = self.settings
        run_limits = resolve_limits(s.run_defaults, lang.run_limits, request.limits,
                                    s.run_caps, "run")
        env = {**lang.env, **request.env}
        entry = request.files[0].name
        argv = lang.run_argv(entry, request.args, limits=run_limits)
        files = request.files
        compiled: StageResult | None = None
        cached = False
        status = Status.OK
        if lang.compiled:
            compile_limits = resolve_limits(s.compile_defaults, lang.compile_limits,
                                            request.compile_limits, s.compile_caps, "compile")
            compiled, artifacts, cached = self._compile(lang, request, compile_limits, env)
            if compiled.status is not Status.OK:
                status = (Status.INTERNAL_ERROR if compiled.status is Status.INTERNAL_ERROR
                          else Status.COMPILE_ERROR)
                return Prepared(lang, status, compiled, (), argv, env, run_limits, False,
                                request.stop)
            files = tuple(SandboxFile(name, data, executable=True)
                          for name, data in artifacts.items())
        return Prepared(lang, status, compiled, files, argv, env, run_limits, cached,
                        request.stop)

    def run_prepared(self, prepared: Prepared, stdin: bytes = b"",
                     files: tuple[SandboxFile, ...] = ()) -> StageResult:
        """One run of a prepared program in a fresh sandbox (a warm one when the pool has
        its flavor), with ``files`` added to its work dir (a checker's input.txt...)."""
        spec = _run_spec(prepared, files, prepared.limits, stdin=stdin)
        return self._execute(f"{prepared.language.name}:run", spec)

    def run_interactive(self, prepared: Prepared, interaction: Interaction,
                        pty: tuple[int, int] | None = None,
                        files: tuple[SandboxFile, ...] = (),
                        wall_given: bool = True) -> StageResult:
        """Run a prepared program with its stdin, output and signals going through
        ``interaction`` while it runs; blocks until it ends. In a fresh cold sandbox, not
        the warm pool: a warm sandbox's stdin is made from its order, and an interactive
        session is long-lived anyway. Without ``wall_given`` (a request that named no
        wall-time limit) the wall time is the server's cap: a person types slower than a
        program runs."""
        limits = prepared.limits
        if not wall_given:
            limits = replace(limits, wall_time_ms=self.settings.run_caps.wall_time_ms)
        spec = _run_spec(prepared, files, limits, interactive=True, pty=pty)
        return self.backend.run(spec, interaction)

    def _compile(self, lang: Language, request: RunRequest, limits: Limits,
                 env: Mapping[str, str]) -> tuple[StageResult, dict[str, bytes], bool]:
        argv = lang.compile_argv(request.files[0].name, limits=limits)
        key = cache_key(lang.name, lang.version, argv,
                        [(f.name, f.content) for f in request.files])
        if self.cache is not None:
            with self.cache.lease(key) as hit:
                if hit is not None:
                    artifacts = {name: _read(os.path.join(hit.directory, name))
                                 for name in hit.files}
                    return StageResult(status=Status.OK, exit_code=0), artifacts, True
        spec = SandboxSpec(argv=argv, files=request.files, env=env, limits=limits,
                           mounts=lang.mounts, collect=lang.artifacts, stop=request.stop)
        result = self._execute(f"{lang.name}:compile", spec)
        artifacts, result.files = result.files, {}
        if result.status is Status.OK and not artifacts:
            result.status = Status.RUNTIME_ERROR
            result.message = "the compiler produced none of " + ", ".join(lang.artifacts)
        if result.status is Status.OK and self.cache is not None:
            self.cache.put(key, artifacts, executable=list(artifacts))
        return result, artifacts, False

    def _execute(self, flavor: str, spec: SandboxSpec) -> StageResult:
        if self.pool is not None and self.pool.has(flavor):
            return self.pool.run(flavor, spec)
        return self.backend.run(spec)

    def flavors(self, reused: bool = False) -> dict[str, Flavor]:
        """The pool flavors of every available language (both stages where compiled);
        ``reused``: for a pool whose sandboxes serve several runs (no template then)."""
        out: dict[str, Flavor] = {}
        s = self.settings
        for lang in self.languages.available():
            zygote = inprocess = None
            if lang.zygote and (s.zygote_mode == "exec" or reused):
                zygote = (lang.run[0], "-c", zygote_source(lang.zygote))
            elif lang.zygote:
                inprocess = (lang.run[0], zygote_target(lang.zygote))
            out[f"{lang.name}:run"] = Flavor(lang.mounts, zygote, s.run_caps, inprocess)
            if lang.compiled:
                out[f"{lang.name}:compile"] = Flavor(lang.mounts, None, s.compile_caps)
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def _run_spec(prepared: Prepared, files: tuple[SandboxFile, ...], limits: Limits,
              **extra: Any) -> SandboxSpec:
    """The sandbox spec of one run of a prepared program, ``files`` added to its own."""
    if not prepared.ok:
        raise ConfigError("a program that did not compile cannot run")
    clash = {f.name for f in files} & {f.name for f in prepared.files}
    if clash:
        raise ConfigError("file(s) given twice: " + ", ".join(sorted(clash)))
    return SandboxSpec(argv=prepared.argv, files=prepared.files + files, env=prepared.env,
                       limits=limits, mounts=prepared.language.mounts, stop=prepared.stop,
                       **extra)


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read()
