"""The namespace backend: every layer of DESIGN.md, built per sandbox, from Linux primitives.

Parent side, in order: take a lease (a slot: unique uid, and its cgroup, kept from an
earlier sandbox or new, see leases.py) → set the group's limits → plan the child (paths
resolved, seccomp compiled once per backend) → the spawner forks the init as pid 1 of a
new pid namespace → supervise → hand the teardown (wait for the init, empty the group,
give the lease back) to the reaper → decide the status.

``run`` does it all for one spec (cold). ``build`` stops once the sandbox is sealed and
waiting (warm, for the pool); ``execute`` sends it one spec (``execute_async``: on the
event loop); ``discard`` throws it away.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from execbox.errors import ConfigError, SandboxSetupError, SandboxUnavailable
from execbox.sandbox import (
    capabilities,
    child,
    cleanup,
    mounts,
    native_init,
    outcome,
    protocol,
    rlimits,
    seccomp,
    template,
    wire,
)
from execbox.sandbox.cgroups import Cgroup, CgroupDriver, CgroupStats, detect
from execbox.sandbox.interaction import Interaction
from execbox.sandbox.leases import Lease, Leases
from execbox.sandbox.reaper import Leftover, Reaper
from execbox.sandbox.spawner import Spawner
from execbox.sandbox.spec import BindMount, SandboxSettings, SandboxSpec
from execbox.sandbox.supervisor import (
    Pipes,
    RawOutcome,
    pipes_for_child,
    supervise,
    supervise_async,
    wait_ready,
    write_async,
)
from execbox.sandbox.users import Slot, SlotAllocator
from execbox.types import Limits, StageResult

BASE_ENV = {"HOME": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
            "TMPDIR": "/tmp", "USER": "runner", "LOGNAME": "runner"}


class NamespaceBackend:
    name = "namespaces"

    def __init__(self, settings: SandboxSettings,
                 policy: seccomp.SeccompPolicy | None = None) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable(["the namespace backend must run as root (it creates "
                                      "namespaces and cgroups, then drops to a sandbox uid)"])
        self.settings = settings
        self._cgroups: CgroupDriver = detect(settings.cgroup)
        problems = self._cgroups.problems()
        if problems:
            raise SandboxUnavailable(problems)
        self._bpf = seccomp.compile_bpf(policy or seccomp.default_policy())
        self._last_cap = capabilities.last_cap()
        self._path = tuple(settings.path_env.split(":"))
        self._root_dir = os.path.join(settings.state_dir, "root")
        os.makedirs(self._root_dir, mode=0o755, exist_ok=True)
        self._slots = SlotAllocator(settings.uid_lock_dir, settings.slots, settings.uid_base)
        self._spawner = Spawner()
        self._templates: dict[tuple[str, str], Spawner] = {}
        self._templates_lock = threading.Lock()
        self._native_paths: tuple[str, str] | None = None
        self._reaper = Reaper()
        cleanup.sweep(self._slots, self._cgroups)
        self._leases = Leases(self._slots, self._cgroups)
        self._roots = mounts.ResolvedCache()

    def close(self) -> None:
        """Wait for pending teardowns, remove every cgroup kept for a later sandbox, then
        release the backend's descriptors."""
        self._reaper.drain()
        self._reaper.close()
        try:
            self._leases.close()
        finally:
            self._spawner.close()
            for spawner in self._templates.values():
                spawner.close()

    def run(self, spec: SandboxSpec, interaction: Interaction | None = None) -> StageResult:
        """Cold: build a sandbox for this spec alone, run it, tear it down. An interactive
        spec needs an ``interaction``: its stdin, output and signals go through it."""
        if spec.interactive != (interaction is not None):
            raise ConfigError("an interactive spec runs with an interaction, and only it")
        limits = spec.limits
        box = self._start(spec.mounts, limits, order=self._order(spec, limits))
        box.uses = 1  # its only one
        return self._finish(box, spec, None, interaction=interaction)

    def build(self, mounts: tuple[BindMount, ...] = (), caps: Limits | None = None,
              zygote: tuple[str, ...] | None = None,
              inprocess: tuple[str, str] | None = None, max_uses: int = 1,
              idle: bool = True) -> WarmSandbox:
        """Warm: a sandbox built ahead of demand, sealed and waiting for an order.

        ``mounts`` are the runtime's extra read-only paths (a run's spec must name the same);
        ``caps`` bound every limit a later order may ask for (rlimits are set to them now,
        and an unprivileged init can only lower them); ``zygote`` is an interpreter to
        start now, inside the sealed sandbox, that runs the order's argv when it comes
        (see ``child._start_zygote`` for its protocol); ``inprocess`` is (interpreter,
        "module:function"): the init is forked from a template spawner running that
        interpreter with the module loaded, and the program runs in a fork of the init
        (no exec, no interpreter start-up; see ``launch.fork_inprocess``); ``max_uses``
        runs may use it, its init wiping the work dir, /tmp, /dev/shm and IPC objects and
        killing every process between two (``recycle`` waits for that). ``idle``: built at
        SCHED_IDLE, yielding to running programs (False when a request is waiting for it)."""
        if inprocess is not None and max_uses > 1:
            # the init holds every order it was sent; a program forked from it (in-process)
            # would find the previous run's code, files and stdin in its own memory
            raise ConfigError("an in-process (fork) sandbox cannot be reused: max_uses must "
                              "be 1")
        caps = caps or Limits()
        box = self._start(mounts, caps, order=None, zygote=zygote, inprocess=inprocess,
                          max_uses=max_uses, idle=idle)
        try:
            box.frames = wait_ready(box.pidfd, box.pipes.status,
                                    self.settings.setup_timeout_ms / 1000)
            if inprocess is not None:  # sealed: its program can be forked and join it now
                self._template(*inprocess).notify(template.encode_arm(box.init_pid))
                box.frames = wait_ready(box.pidfd, box.pipes.status,
                                        self.settings.setup_timeout_ms / 1000,
                                        frames=box.frames, until=protocol.ARMED)
        except BaseException:
            self.discard(box)
            raise
        box.zygote_bytes = _zygote_bytes(box)
        return box

    def execute(self, box: WarmSandbox, spec: SandboxSpec) -> StageResult:
        """Run ``spec`` in a warm sandbox from ``build`` (or ``recycle``). Afterwards
        ``box.reusable`` says whether it may serve another run (after ``recycle``);
        otherwise it is already being torn down."""
        order, baseline, before = self._ready(box, spec)
        with self._sending(box):
            wire.write_all(box.pipes.control, order)
        return self._finish(box, spec, box.frames, baseline, before)

    async def execute_async(self, box: WarmSandbox, spec: SandboxSpec) -> StageResult:
        """``execute`` on the running event loop (``supervise_async``): the loop is never
        blocked for longer than a step of the run (an order bigger than the pipe takes at
        once is written as the init reads it)."""
        order, baseline, before = self._ready(box, spec)
        with self._sending(box):
            await write_async(box.pipes.control, order)
        box.reusable = False
        before = before if before is not None else box.lease.base
        try:
            raw = await supervise_async(box.pidfd, box.pipes, spec.limits, box.cgroup,
                                        self.settings.setup_timeout_ms / 1000, box.frames,
                                        baseline, lambda: _program_anon_bytes(box))
            self._settle(box, raw, before)
        finally:
            self._conclude(box)
        return self._decide(raw, spec)

    def _ready(self, box: WarmSandbox, spec: SandboxSpec,
               ) -> tuple[bytes, int, CgroupStats | None]:
        """Everything before a warm sandbox's order is sent: (the order's message, the
        memory baseline, the counters of its earlier runs); the box discarded on error."""
        if spec.mounts != box.mounts:
            self.discard(box)
            raise SandboxSetupError("a warm sandbox runs only specs with the mounts it was "
                                    "built with")
        limits = spec.limits
        over = limits.exceeding(box.caps)
        if over:
            self.discard(box)
            raise SandboxSetupError(f"limits over the warm sandbox's caps: {', '.join(over)}")
        try:
            gone, _, _ = select.select([box.pidfd], [], [], 0)
            if gone:  # the pool's caller builds another
                raise SandboxSetupError("the warm sandbox died while it waited")
            if box.uses == 0:  # built at SCHED_IDLE: now it is a request (a template box's
                # program was forked by the program server, never at SCHED_IDLE)
                for pid in [box.init_pid] if box.template else _with_children(box.init_pid):
                    os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
            box.lease.set_limits(limits.memory_mb * 1024 * 1024, limits.processes + 1)
            box.cgroup.reset_peak()
            before = box.cgroup.stats() if box.uses else None  # counters of earlier runs
            # the preloaded interpreter becomes the program: its memory is the program's, as
            # a cold run's interpreter's is (only the init's is not). (An in-process program
            # is forked from the init: only the pages it writes are its own.)
            baseline = max(box.cgroup.memory_usage_bytes() - box.zygote_bytes, 0)
            order = self._order(spec, limits)
            message = wire.blob(template.encode_order(order) if box.template
                                else protocol.encode_order(order))
            return message, baseline, before
        except BaseException:
            self.discard(box)
            raise

    @contextlib.contextmanager
    def _sending(self, box: WarmSandbox) -> Iterator[None]:
        """Around the write of a box's order: the box discarded if it fails."""
        try:
            yield
        except BrokenPipeError as exc:
            self.discard(box)
            raise SandboxSetupError("the warm sandbox died while it waited") from exc
        except BaseException:
            self.discard(box)
            raise
        box.uses += 1

    def recycle(self, box: WarmSandbox) -> None:
        """Wait until a reusable sandbox has wiped itself and is ready for its next run;
        SandboxSetupError (and the sandbox discarded) if it does not get there."""
        try:
            box.frames = wait_ready(box.pidfd, box.pipes.status,
                                    self.settings.setup_timeout_ms / 1000, box.pending)
            box.pending = b""
            box.zygote_bytes = _zygote_bytes(box)  # a new one each run
        except BaseException:
            self.discard(box)
            raise

    def discard(self, box: WarmSandbox) -> None:
        """Kill an unused (or failed) sandbox and tear it down off the request path."""
        try:
            signal.pidfd_send_signal(box.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        box.reusable = False
        self._tear_down(box)

    def _tear_down(self, box: WarmSandbox) -> None:
        self._reaper.submit(Leftover(box.pidfd, box.cgroup.name,
                                     lambda: self._leases.give_back(box.lease),
                                     box.pipes.close))

    def _start(self, extra: tuple[BindMount, ...], limits: Limits,
               order: child.RunOrder | None, zygote: tuple[str, ...] | None = None,
               inprocess: tuple[str, str] | None = None, max_uses: int = 1,
               idle: bool = True) -> WarmSandbox:
        """Lease (slot and cgroup), limits, plan, pipes and the init forked by the spawner."""
        lease = self._leases.take()
        slot, cgroup = lease.slot, lease.cgroup
        try:
            if order is None:  # warm: its order sets the run's limits
                lease.set_build_limits(limits.memory_mb * 1024 * 1024, limits.processes + 1)
            else:
                lease.set_limits(limits.memory_mb * 1024 * 1024, limits.processes + 1)
                if lease.base is not None:  # a group of earlier sandboxes: its own peak
                    cgroup.reset_peak()
            s = self.settings
            binds = s.runtime_mounts + extra
            root = mounts.plan(self._root_dir, binds, s.masked_paths, slot.uid, slot.gid,
                               s.work_dir_mb, s.tmp_mb, s.inodes,
                               pty=order is not None and order.pty is not None,
                               resolved=self._roots.resolve(binds, s.masked_paths))
            plan: child.ChildPlan | bytes
            enter = tuple(cgroup.enter_files())
            limits_plan = rlimits.plan(limits, s.open_files, s.stack_mb)
            if inprocess:  # the C init; the program is forked by the template spawner
                plan = template.encode_plan(
                    self.native_paths()[0],
                    native_init.encode(enter, s.hostname, root, limits_plan, self._last_cap,
                                       self._bpf, idle), s.recycle_netns)
            else:
                plan = child.ChildPlan(
                    path=self._path, cgroup_enter_files=enter, hostname=s.hostname,
                    root=root, rlimits=limits_plan, last_cap=self._last_cap,
                    seccomp_bpf=self._bpf, order=order, zygote=zygote, max_uses=max_uses,
                    idle=idle)
            spawner = self._template(*inprocess) if inprocess else self._spawner
            parent_ends, ends = pipes_for_child(
                warm=order is None, interactive=order is not None and order.interactive)
            child_ends = tuple(fd for fd in ends if fd >= 0)
            for fd in (*child_ends[:2], ends[4]):  # the program's stdio is its own:
                if fd >= 0:                          # /dev/stdout reopens
                    os.fchown(fd, slot.uid, slot.gid)
            try:
                init_pid, pidfd = spawner.spawn(plan, child_ends)
            except BaseException:
                parent_ends.close()
                raise
            finally:
                for fd in child_ends:
                    os.close(fd)
        except BaseException:
            self._leases.drop(lease)
            raise
        return WarmSandbox(slot=slot, cgroup=cgroup, lease=lease, pidfd=pidfd, pipes=parent_ends,
                           mounts=extra, caps=limits, zygote=zygote, max_uses=max_uses,
                           init_pid=init_pid, template=inprocess is not None)

    def native_paths(self) -> tuple[str, str]:
        """The C init of template sandboxes and the library their programs are forked
        with, compiled into the state dir on first use; SandboxSetupError if this host
        cannot build them (no C compiler). A service calls it at start-up."""
        with self._templates_lock:
            if self._native_paths is None:
                directory = os.path.join(self.settings.state_dir, "bin")
                self._native_paths = (native_init.binary(directory),
                                      native_init.library(directory))
            return self._native_paths

    def _template(self, interpreter: str, target: str) -> Spawner:
        """The template spawner for (interpreter, "module:function"), started once: the
        module's file is loaded by path, not imported (see template.py)."""
        key = (interpreter, target)
        with self._templates_lock:
            spawner = self._templates.get(key)
        if spawner is not None and spawner.alive():
            return spawner
        module, _, function = target.partition(":")
        found = importlib.util.find_spec(module)
        if found is None or found.origin is None:
            raise ConfigError(f"no module {module} for a template spawner")
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        argv = template.command(interpreter, src, found.origin, function, self.native_paths()[1])
        with self._templates_lock:
            spawner = self._templates.get(key)
            if spawner is None or not spawner.alive():  # first use, or it died: (re)start
                if spawner is not None:
                    spawner.close()
                spawner = Spawner(template=argv)
                self._templates[key] = spawner
        return spawner

    def _order(self, spec: SandboxSpec, limits: Limits) -> child.RunOrder:
        s = self.settings
        return child.RunOrder(
            argv=spec.argv, env={"PATH": s.path_env, **BASE_ENV, **spec.env},
            files=spec.files, rlimits=rlimits.plan(limits, s.open_files, s.stack_mb),
            collect=spec.collect, collect_max_bytes=spec.collect_max_bytes, stdin=spec.stdin,
            interactive=spec.interactive, pty=spec.pty)

    def _finish(self, box: WarmSandbox, spec: SandboxSpec,
                frames: protocol.FrameReader | None, memory_baseline: int | None = None,
                before: CgroupStats | None = None,
                interaction: Interaction | None = None) -> StageResult:
        """Supervise the run; tear down unless reusable; decide the status."""
        box.reusable = False
        # counters left by earlier runs: this sandbox's own, or the lease's earlier sandboxes
        before = before if before is not None else box.lease.base
        try:
            raw = supervise(box.pidfd, box.pipes, spec.limits, box.cgroup,
                            self.settings.setup_timeout_ms / 1000, frames, memory_baseline,
                            interaction, lambda sig: _signal_program(box, sig),
                            lambda: _program_anon_bytes(box), spec.stop)
            self._settle(box, raw, before)
        finally:
            self._conclude(box)
        return self._decide(raw, spec)

    @staticmethod
    def _settle(box: WarmSandbox, raw: RawOutcome, before: CgroupStats | None) -> None:
        """A supervised run's statistics, and whether its sandbox may serve another."""
        stats = box.cgroup.stats()
        if before is not None:  # a reused cgroup: only this run's events count
            stats = replace(stats, oom_kills=stats.oom_kills - before.oom_kills,
                            pids_max_hits=stats.pids_max_hits - before.pids_max_hits)
        raw.stats = stats
        box.reusable = (box.uses < box.max_uses and raw.frames.complete
                        and raw.killed_for is None)
        box.pending = bytes(raw.frames.leftover)

    def _conclude(self, box: WarmSandbox) -> None:
        box.frames = None
        if not box.reusable:  # the init's exit, the cgroup's removal: off the path
            self._tear_down(box)

    @staticmethod
    def _decide(raw: RawOutcome, spec: SandboxSpec) -> StageResult:
        result = outcome.decide(raw, spec.limits)
        if spec.collect:
            result.files = _split_files(raw.frames.first(protocol.EXIT), raw.frames.tail)
        return result


@dataclass(slots=True)
class WarmSandbox:
    """A sandbox whose init is forked and (after ``build``) sealed, waiting for an order."""

    slot: Slot
    cgroup: Cgroup
    lease: Lease  # of the slot and the cgroup: given back at teardown
    pidfd: int
    pipes: Pipes
    mounts: tuple[BindMount, ...]
    caps: Limits
    zygote: tuple[str, ...] | None = None
    frames: protocol.FrameReader | None = None
    built_at: float = field(default_factory=time.monotonic)
    max_uses: int = 1
    init_pid: int = 0  # host pid; its pidfd is what signals it
    uses: int = 0
    reusable: bool = False
    pending: bytes = b""  # status bytes read past the last report (a reused box's READY)
    zygote_bytes: int = 0  # what its preloaded interpreter holds, read while it waits
    template: bool = False  # its program is forked from a template spawner (template.py)

    @property
    def uid(self) -> int:
        return self.slot.uid


def _signal_program(box: WarmSandbox, sig: int) -> None:
    """Send ``sig`` to the program: the init's child. Its pid is taken from the init's
    children list and checked again once a pidfd pins it, so a pid reused after the
    program's exit is never signalled."""
    children = _with_children(box.init_pid)[1:]
    if not children:
        return
    try:
        pidfd = os.pidfd_open(children[0])
    except OSError:
        return
    try:
        if children[0] in _with_children(box.init_pid):
            signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


def _zygote_bytes(box: WarmSandbox) -> int:
    """A ready box's preloaded interpreter's anonymous memory (0 without one)."""
    if box.zygote is None:
        return 0
    return _program_anon_bytes(box)


def _program_anon_bytes(box: WarmSandbox) -> int:
    """What the program (the init's child) holds of anonymous memory, 0 if gone."""
    children = _with_children(box.init_pid)[1:]
    return _anon_bytes(children[0]) if children else 0


def _anon_bytes(pid: int) -> int:
    """A live process's anonymous resident memory (what its cgroup was charged for it)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _with_children(pid: int) -> list[int]:
    """A warm box's processes: its init and the init's children (a zygote)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid, *(int(p) for p in f.read().split())]
    except OSError:  # gone: the run will find out
        return []


def _split_files(exit_frame: dict[str, object] | None, tail: bytes | bytearray,
                 ) -> dict[str, bytes]:
    if exit_frame is None:
        return {}
    files: dict[str, bytes] = {}
    offset = 0
    entries = exit_frame.get("files")
    if not isinstance(entries, list):
        raise SandboxSetupError("malformed files list from the sandbox")
    for name, size in entries:
        files[str(name)] = bytes(tail[offset:offset + int(size)])
        offset += int(size)
    return files
