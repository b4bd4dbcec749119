"""Every isolation level as one object whose ``run(program, lane)`` runs the program once.

Kinds, in the order the table shows them:

* ``bare``: ``subprocess.run`` of the program on the host, from this process: the
  baseline every ratio divides by (what running it without execbox costs).
* ``layer``: the ladder (``ladder.RUNGS``): execbox's layer modules added one at a time
  in a child forked by a small helper process.
* ``execbox``: the product: a full cold sandbox (``NamespaceBackend.run``), the runner
  with a warm pool (a fresh sandbox per run, and one reused N times), and the HTTP API.
* ``peer`` / ``stronger``: other tools on this host (``peers``).

A run that does not print ``hello`` and exit 0 raises BenchError; one whose hello follows
runtime warnings returns the first warning (``Program.check``). ``settle`` is called,
untimed, before every timed run (a warm pool tops itself up first: a run's latency is
measured, not a refill backlog); ``prepare(lanes)`` before a throughput measurement with
that many client threads.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from execbox.bench import ladder
from execbox.bench.errors import BenchError
from execbox.bench.forker import Helpers
from execbox.bench.programs import Program
from execbox.pool import WarmPool
from execbox.runner.runner import Runner
from execbox.sandbox import capabilities, mounts, rlimits
from execbox.sandbox.cgroups import CgroupDriver
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxSettings
from execbox.sandbox.users import SlotAllocator
from execbox.types import Status

MIB = 1024 * 1024


class Level:
    """Base: a name for tables, a label for people, a kind (see the module doc)."""

    name = "level"
    label = "level"
    kind = "execbox"

    def unavailable(self, program: Program) -> str | None:
        """Why this level cannot run ``program`` on this host (None: it can)."""
        return None

    def run(self, program: Program, lane: int) -> str | None:
        """One run; BenchError if it failed, else a warning it printed, or None."""
        raise NotImplementedError

    def settle(self) -> None:
        """Before a timed run: wait until background work of this level is done."""

    def prepare(self, lanes: int) -> None:
        """Before a throughput measurement with ``lanes`` client threads."""

    def close(self) -> None:
        """Release what the level holds."""


class Bare(Level):
    name = "bare"
    label = "bare process (subprocess.run)"
    kind = "bare"

    def run(self, program: Program, lane: int) -> str | None:
        done = subprocess.run(program.argv, cwd=program.host_dir, env=program.full_env,
                              stdin=subprocess.DEVNULL, capture_output=True, check=False)
        return program.check(done.returncode, done.stdout, done.stderr)


@dataclass(slots=True)
class LadderContext:
    """What the ladder's parent side shares: the helpers, slots (a unique uid and cgroup
    name per run, the backend's own allocator scheme), the cgroup driver, the seccomp
    program and the host settings."""

    settings: SandboxSettings
    helpers: Helpers
    slots: SlotAllocator
    cgroups: CgroupDriver
    seccomp_bpf: bytes
    root_dir: str
    last_cap: int = 0

    def __post_init__(self) -> None:
        self.last_cap = capabilities.last_cap()


class LadderLevel(Level):
    kind = "layer"

    def __init__(self, rung: ladder.Rung, ctx: LadderContext) -> None:
        self.rung = rung
        self.name = rung.name
        self.label = rung.label
        self._ctx = ctx

    def prepare(self, lanes: int) -> None:
        self._ctx.helpers.ensure(lanes)

    def run(self, program: Program, lane: int) -> str | None:
        ctx, layers, s = self._ctx, self.rung.layers, self._ctx.settings
        slot = ctx.slots.acquire() if layers.user or layers.cgroup else None
        cgroup = None
        try:
            enter: tuple[str, ...] = ()
            if layers.cgroup:
                assert slot is not None
                cgroup = ctx.cgroups.create(slot.name)
                cgroup.set_limits(program.limits.memory_mb * MIB, program.limits.processes + 1)
                enter = tuple(cgroup.enter_files())
            uid, gid = (slot.uid, slot.gid) if slot is not None and layers.user else (0, 0)
            root = (mounts.plan(ctx.root_dir, s.runtime_mounts + program.mounts,
                                s.masked_paths, uid, gid, s.work_dir_mb, s.tmp_mb, s.inodes)
                    if layers.mounts else None)
            plan = ladder.LadderPlan(
                layers=layers, argv=program.argv, env=program.full_env,
                host_dir=program.host_dir, files=program.files,
                rlimits=rlimits.plan(program.limits, s.open_files, s.stack_mb), root=root,
                last_cap=ctx.last_cap, hostname=s.hostname, seccomp_bpf=ctx.seccomp_bpf,
                cgroup_enter_files=enter)
            code, out, err = ctx.helpers.get(lane).run(plan)
            if cgroup is not None:
                cgroup.stats()  # what a run reports: CPU, peak memory, OOM kills
        finally:
            if cgroup is not None:
                cgroup.remove()
            if slot is not None:
                ctx.slots.release(slot)
        return program.check(code, out, err)


class Cold(Level):
    name = "cold"
    label = "full cold sandbox (NamespaceBackend.run)"

    def __init__(self, backend: NamespaceBackend) -> None:
        self._backend = backend

    def run(self, program: Program, lane: int) -> str | None:
        result = self._backend.run(program.spec)
        if result.status is not Status.OK:
            raise BenchError(f"cold sandbox: {result.summary()} {result.message or ''} "
                             f"{result.stderr[:300]!r}")
        return program.check(result.exit_code, result.stdout, result.stderr)


class Warm(Level):
    """Through ``Runner.run`` (compile cached, limits resolved) with a warm pool."""

    def __init__(self, name: str, label: str, runner: Runner) -> None:
        self.name = name
        self.label = label
        self.runner = runner

    @property
    def pool(self) -> WarmPool:
        assert self.runner.pool is not None
        return self.runner.pool

    def settle(self) -> None:
        self.pool.wait_warm(10, settled=True)

    def run(self, program: Program, lane: int) -> str | None:
        result = self.runner.run(program.request)
        run = result.run
        if result.status is not Status.OK or run is None:
            raise BenchError(f"runner: {result.as_json()}")
        return program.check(run.exit_code, run.stdout, run.stderr)

    def close(self) -> None:
        self.runner.close()
