"""The whole benchmark: set every level up, validate it, time it interleaved, tear down.

Phases: compile the hello worlds (in sandboxes) and start the HTTP service → two
validation runs of every (language, level), a level that fails is reported with why →
latency: ``rounds`` rounds, each running every (language, level) once in a fresh random
order (Java only every ``jvm_every``-th round: a JVM start is 30-60 ms), everything
settled before each timed run → memory of one warm sandbox per language → throughput at
each concurrency: every level gets ``seconds`` in two halves, in shuffled order.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from execbox.bench import ladder, memory, peers, programs
from execbox.bench.errors import BenchError
from execbox.bench.forker import Helpers
from execbox.bench.levels import Bare, Cold, LadderContext, LadderLevel, Level, Warm
from execbox.bench.machine import Machine, this_machine
from execbox.bench.measure import Progress, Summary, Throughput, interleaved, schedule, throughput
from execbox.bench.server import Http, ServerProcess
from execbox.errors import ConfigError, ExecboxError
from execbox.languages.registry import Registry
from execbox.pool import PoolSettings, WarmPool
from execbox.runner.compile_cache import CompileCache
from execbox.runner.runner import Runner, RunnerSettings
from execbox.sandbox import host, seccomp
from execbox.sandbox.cgroups import detect
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxSettings
from execbox.sandbox.users import SlotAllocator

SLOW = frozenset({"java"})  # started every jvm_every-th round only
LEVEL_NAMES = ("bare", *(r.name for r in ladder.RUNGS), "cold", "warm", "warm-reuse", "http",
               "bwrap", "unshare", "gvisor")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    rounds: int = 60
    jvm_every: int = 3
    languages: tuple[str, ...] = programs.LANGUAGES
    concurrency: tuple[int, ...] = (1, 2, 4, 16)
    seconds: float = 2.0  # per throughput cell (level, language, concurrency)
    throughput_languages: tuple[str, ...] | None = None  # None: every language
    levels: tuple[str, ...] | None = None  # None: every level
    max_uses: int = 20  # of the reused warm pool
    min_warm: int = 2
    max_size: int = 8
    state_dir: str = "/run/execbox"
    seed: int = 1
    warmup: int = 2
    quick: bool = False

    def __post_init__(self) -> None:
        unknown = [name for name in self.languages if name not in programs.HELLO]
        if unknown:
            raise ConfigError(f"no benchmark program for {', '.join(unknown)} (have: "
                              f"{', '.join(programs.LANGUAGES)})")
        bad = [name for name in self.levels or () if name not in LEVEL_NAMES]
        if bad:
            raise ConfigError(f"unknown level(s) {', '.join(bad)} (have: "
                              f"{', '.join(LEVEL_NAMES)})")
        if self.rounds < 1 or self.seconds < 0 or any(c < 1 for c in self.concurrency):
            raise ConfigError("rounds and concurrency must be at least 1, seconds >= 0")

    @classmethod
    def quick_config(cls, **changes: object) -> BenchConfig:
        """Under two minutes on a 2-core VM: fewer rounds, short throughput cells, Java in
        every third of 15 rounds, throughput for Python only."""
        base = cls(rounds=15, seconds=0.4, throughput_languages=("python",), quick=True)
        return replace(base, **changes)  # type: ignore[arg-type]

    def wants(self, level: str) -> bool:
        return self.levels is None or level in self.levels


@dataclass(frozen=True, slots=True)
class LevelInfo:
    name: str
    label: str
    kind: str


@dataclass(slots=True)
class Warned:
    """Runs that worked but printed a warning before their hello, and the first one."""

    runs: int
    first: str


@dataclass(slots=True)
class Results:
    machine: Machine
    config: BenchConfig
    command: str
    started: str
    duration_s: float = 0.0
    levels: list[LevelInfo] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # language -> version
    latency: dict[str, dict[str, Summary]] = field(default_factory=dict)  # lang -> level
    errors: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    unavailable: dict[str, dict[str, str]] = field(default_factory=dict)  # level -> lang
    throughput: dict[str, dict[str, dict[int, Throughput]]] = field(default_factory=dict)
    memory: dict[str, memory.Memory] = field(default_factory=dict)  # language -> warm box
    notes: list[str] = field(default_factory=list)
    warnings: dict[str, dict[str, Warned]] = field(default_factory=dict)  # lang -> level
    # 1-minute load average at the start and after the latency rounds (which run one
    # program at a time: more than ~1 there is other work on the machine)
    load: tuple[float, float] = (0.0, 0.0)
    http_floor_ms: float | None = None  # GET /healthz, p50: any request's floor

    def add_warnings(self, language: str, level: str, count: int, first: str) -> None:
        entry = self.warnings.setdefault(language, {}).setdefault(level, Warned(0, first))
        entry.runs += count

    @property
    def languages(self) -> list[str]:
        return list(self.versions)

    def p50(self, language: str, level: str) -> float | None:
        summary = self.latency.get(language, {}).get(level)
        return summary.p50 if summary else None

    def as_json(self) -> dict[str, object]:
        return {
            "machine": self.machine.as_json(),
            "config": asdict(self.config),
            "command": self.command,
            "started": self.started,
            "duration_s": round(self.duration_s, 1),
            "levels": [asdict(level) for level in self.levels],
            "versions": self.versions,
            "latency_ms": {lang: {lvl: s.as_json() for lvl, s in by.items()}
                           for lang, by in self.latency.items()},
            "errors": self.errors,
            "unavailable": self.unavailable,
            "throughput": {lang: {lvl: {str(c): t.as_json() for c, t in by_c.items()}
                                  for lvl, by_c in by.items()}
                           for lang, by in self.throughput.items()},
            "memory": {lang: m.as_json() for lang, m in self.memory.items()},
            "warnings": {lang: {lvl: asdict(w) for lvl, w in by.items()}
                         for lang, by in self.warnings.items()},
            "notes": self.notes,
            "load_average_1min": list(self.load),
            "http_healthz_p50_ms": self.http_floor_ms,
        }


def _settle_all(levels: list[Level]) -> Callable[[object], None]:
    def settle(_key: object) -> None:
        for level in levels:
            level.settle()
        time.sleep(0.002)  # a cold run's teardown (init exit, cgroup removal) finishes
    return settle


def run(config: BenchConfig, progress: Progress | None = None, command: str = "",
        ) -> Results:
    """The whole benchmark; BenchError or ExecboxError if it cannot start at all."""
    progress = progress or Progress(quiet=True)
    t0 = time.monotonic()
    machine = this_machine()
    results = Results(machine=machine, config=config, command=command,
                      started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    load_start = os.getloadavg()[0]
    progress.phase(f"machine: {machine.describe()}; load average {load_start:.1f}")
    settings = SandboxSettings(state_dir=config.state_dir)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="execbox-bench-"))
        backend = NamespaceBackend(settings)
        stack.callback(backend.close)
        registry = Registry.load()
        languages = []
        for name in config.languages:
            try:
                registry.get(name)
                languages.append(name)
            except ExecboxError as exc:
                results.notes.append(f"{name} skipped: {exc}")
        pool = PoolSettings(min_warm=config.min_warm, max_size=config.max_size)
        server = None
        if config.wants("http") and languages:
            progress.phase("starting `execbox serve` on loopback")
            server = ServerProcess(os.path.join(tmp, "server-state"), tuple(languages), pool)
            stack.callback(server.close)
        progs: dict[str, programs.Program] = {}
        runner_settings = RunnerSettings()
        for name in languages:
            progress.phase(f"compiling the {name} hello world in a sandbox")
            progs[name] = programs.prepare(registry.get(name), backend, settings,
                                           runner_settings, os.path.join(tmp, name))
            results.versions[name] = progs[name].version
        levels = _build_levels(config, settings, backend, registry, progs, tmp, server, stack)
        results.levels = [LevelInfo(lv.name, lv.label, lv.kind) for lv in levels]
        if server is not None:
            progress.phase("waiting for the HTTP service to be ready")
            try:
                server.wait_ready()
            except BenchError as exc:  # the other levels are still worth measuring
                results.unavailable["http"] = {lang: f"failed: {exc}" for lang in progs}
                levels = [lv for lv in levels if lv.name != "http"]
        for lv in levels:
            if isinstance(lv, Warm):
                lv.pool.wait_warm(60)
        settle = _settle_all(levels)
        cases = _validate(config, levels, progs, results, settle, progress)
        _latency(config, cases, results, settle, progress)
        results.load = (load_start, os.getloadavg()[0])
        _memory(levels, backend, results, progress)
        http = next((lv for lv in levels if isinstance(lv, Http)), None)
        if http is not None:
            results.http_floor_ms = http.floor_ms()
        _throughput(config, levels, tuple(progs), cases, results, settle, progress)
        kvm = host.check_kvm()
        results.notes.append(f"microVM backend: {'possible' if kvm.ok else 'none'} "
                             f"({kvm.detail})")
        progress.phase("tearing down")
    results.duration_s = time.monotonic() - t0
    progress.phase(f"done in {results.duration_s:.0f} s")
    progress.close()
    return results


def _build_levels(config: BenchConfig, settings: SandboxSettings, backend: NamespaceBackend,
                  registry: Registry, progs: dict[str, programs.Program], tmp: str,
                  server: ServerProcess | None, stack: contextlib.ExitStack) -> list[Level]:
    bpf = seccomp.compile_bpf(seccomp.default_policy())
    cgroups = detect(settings.cgroup)
    problems = cgroups.problems()
    if problems:
        raise BenchError("cgroups: " + "; ".join(problems))
    helpers = Helpers()
    stack.callback(helpers.close)
    ctx = LadderContext(settings, helpers,
                        SlotAllocator(settings.uid_lock_dir, settings.slots, settings.uid_base),
                        cgroups, bpf, os.path.join(settings.state_dir, "root"))
    cache = CompileCache(os.path.join(tmp, "cache"))

    def warm(name: str, label: str, max_uses: int) -> Warm:
        runner = Runner(backend, registry, cache, settings=RunnerSettings())
        flavors = {k: v for k, v in runner.flavors(reused=max_uses > 1).items()
                   if k.split(":")[0] in progs}
        runner.pool = WarmPool(backend, PoolSettings(
            min_warm=config.min_warm, max_size=config.max_size, max_uses=max_uses), flavors)
        return Warm(name, label, runner)

    def rung(r: ladder.Rung) -> Callable[[], Level]:
        return lambda: LadderLevel(r, ctx)

    def http() -> Level:
        assert server is not None
        return Http(server)

    candidates: list[tuple[str, Callable[[], Level]]] = [
        ("bare", Bare),
        *((r.name, rung(r)) for r in ladder.RUNGS),
        ("cold", lambda: Cold(backend)),
        ("warm", lambda: warm("warm", "warm pool, runner, fresh sandbox per run", 1)),
        ("warm-reuse", lambda: warm("warm-reuse", f"warm pool, runner, sandbox reused "
                                    f"{config.max_uses}x", config.max_uses)),
        ("http", http),
        ("bwrap", lambda: peers.Bubblewrap(settings, bpf)),
        ("unshare", lambda: peers.UnshareCgroup(ctx, os.path.join(tmp, "unshare-cgroup.sh"))),
        ("gvisor", peers.Gvisor),
    ]
    levels: list[Level] = []
    for name, make in candidates:
        if not config.wants(name) or (name == "http" and server is None):
            continue
        level = make()
        stack.callback(level.close)
        levels.append(level)
    return levels


Key = tuple[str, str]  # (language, level)


def _call(case: tuple[Level, programs.Program]) -> Callable[[int], str | None]:
    level, program = case
    return lambda lane: level.run(program, lane)


def _validate(config: BenchConfig, levels: list[Level], progs: dict[str, programs.Program],
              results: Results, settle: Callable[[object], None], progress: Progress,
              ) -> dict[Key, tuple[Level, programs.Program]]:
    """Run every (language, level) ``warmup`` times; those that work are the cases."""
    cases: dict[Key, tuple[Level, programs.Program]] = {}
    total = len(levels) * len(progs)
    done = 0
    for level in levels:
        for lang, program in progs.items():
            done += 1
            progress.step("validating every level", done, total)
            why = level.unavailable(program)
            if why is None:
                try:
                    for _ in range(max(config.warmup, 1)):
                        settle(None)
                        level.run(program, 0)
                except Exception as exc:
                    why = f"failed: {type(exc).__name__}: {exc}"
            if why is None:
                cases[(lang, level.name)] = (level, program)
            else:
                results.unavailable.setdefault(level.name, {})[lang] = why
                progress.note(f"{level.name} / {lang}: {why}")
    return cases


def _latency(config: BenchConfig, cases: dict[Key, tuple[Level, programs.Program]],
             results: Results, settle: Callable[[object], None], progress: Progress) -> None:
    keys = list(cases)
    every = {k: config.jvm_every for k in keys if k[0] in SLOW}
    order = schedule(keys, config.rounds, every, config.seed)

    progress.phase(f"latency: {config.rounds} interleaved rounds of {len(keys)} runs")
    samples, errors, warnings = interleaved({k: _call(cases[k]) for k in keys}, order,
                                            settle, progress)
    for (lang, level_name), xs in samples.items():
        if xs:
            results.latency.setdefault(lang, {})[level_name] = Summary.of(xs)
        if errors[(lang, level_name)]:
            results.errors.setdefault(lang, {})[level_name] = errors[(lang, level_name)]
        if warnings[(lang, level_name)]:
            results.add_warnings(lang, level_name, len(warnings[(lang, level_name)]),
                                 warnings[(lang, level_name)][0])


def _memory(levels: list[Level], backend: NamespaceBackend, results: Results,
            progress: Progress) -> None:
    warm = next((lv for lv in levels if isinstance(lv, Warm) and lv.name == "warm"), None)
    if warm is None:
        return
    progress.phase("memory of one warm sandbox per language")
    for name, flavor in warm.runner.flavors().items():
        lang, _, stage = name.partition(":")
        if stage == "run" and lang in results.versions:
            try:
                results.memory[lang] = memory.warm_sandbox(backend, flavor)
            except ExecboxError as exc:
                results.notes.append(f"memory of a warm {lang} sandbox: {exc}")


def _throughput(config: BenchConfig, levels: list[Level], languages: tuple[str, ...],
                cases: dict[Key, tuple[Level, programs.Program]], results: Results,
                settle: Callable[[object], None], progress: Progress) -> None:
    if config.seconds <= 0:
        return
    wanted = config.throughput_languages or languages
    keys = [k for k in cases if k[0] in wanted]
    rng = random.Random(config.seed + 1)  # noqa: S311 - an order, not a secret
    # each cell in parts, every level's part in a shuffled pass, then the next pass: the
    # VM's slow spells (seconds long, bare python3 itself moving 10-20%) then fall on
    # every level alike rather than on whichever cell they happen to meet
    halves = 4 if config.seconds >= 1 else 2
    total = len(keys) * len(config.concurrency) * halves
    done = 0
    progress.phase(f"throughput: {len(keys)} (language, level) pairs x concurrency "
                   f"{', '.join(map(str, config.concurrency))}, {config.seconds:g} s each")
    for conc in config.concurrency:
        for level in levels:
            level.prepare(conc)
        for _ in range(halves):
            order = list(keys)
            rng.shuffle(order)
            for key in order:
                settle(key)
                cell = throughput(_call(cases[key]), conc, config.seconds / halves)
                by_conc = results.throughput.setdefault(key[0], {}).setdefault(key[1], {})
                if conc in by_conc:
                    by_conc[conc].add(cell)
                else:
                    by_conc[conc] = cell
                if cell.first_warning is not None:
                    results.add_warnings(key[0], key[1], cell.warnings, cell.first_warning)
                done += 1
                progress.step(f"throughput at concurrency {conc}, cells", done, total)
