"""The host's side of one run: collect capped output, enforce wall and CPU time.

One thread, one ``selectors`` loop over the status pipe, stdout and stderr. Killing
means SIGKILL to the sandbox's init: as pid 1 of the sandbox's pid namespace its death
makes the kernel kill every other process in it (daemons, setsid, double forks); the
cgroup sweep after the run is the second line.
"""

from __future__ import annotations

import fcntl
import os
import select
import selectors
import signal
import time
from dataclasses import dataclass, field

from execbox.errors import SandboxSetupError
from execbox.sandbox import protocol
from execbox.sandbox.cgroups import Cgroup, CgroupStats
from execbox.types import Limits

_READ = 1 << 16
_CPU_POLL_S = 0.01
_AFTER_KILL_S = 5.0


@dataclass(slots=True)
class Pipes:
    """Parent ends of a sandbox's pipes (created CLOEXEC, numbered >= 3)."""

    status: int
    stdout: int
    stderr: int
    control: int = -1  # write end of the order pipe (warm sandboxes only)

    def close(self) -> None:
        for fd in (self.status, self.stdout, self.stderr, self.control):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


@dataclass(slots=True)
class RawOutcome:
    """Facts gathered by the supervisor; ``outcome.decide`` turns them into a result."""

    frames: protocol.FrameReader
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed_for: str | None = None  # "output" | "wall" | "cpu" | "setup" | "stuck"
    stuck: bool = False  # pipes still open long after the kill: execbox's failure
    started_at: float | None = None
    ended_at: float = 0.0
    cpu_baseline_ns: int = 0
    cpu_ns: int = 0  # cgroup usage since the program started
    memory_baseline: int = 0
    stats: CgroupStats | None = None


def pipes_for_child(warm: bool = False) -> tuple[Pipes, tuple[int, ...]]:
    """(parent ends, child ends: stdout-write, stderr-write, status-write and, for a warm
    sandbox, order-read). Stdin is no pipe: the init makes it from the order (a memfd)."""
    status, stdout, stderr = (_pipe() for _ in range(3))
    parent = Pipes(status=status[0], stdout=stdout[0], stderr=stderr[0])
    ends: tuple[int, ...] = (stdout[1], stderr[1], status[1])
    if warm:
        control = _pipe()
        parent.control = control[1]
        ends += (control[0],)
    return parent, ends


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    # never 0, 1 or 2: dup2 onto the same number would keep close-on-exec set
    out = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) if fd < 3 else fd for fd in (r, w))
    for old, new in zip((r, w), out, strict=True):
        if old != new:
            os.close(old)
    return out[0], out[1]


def supervise(
    init_pidfd: int, pipes: Pipes, limits: Limits, cgroup: Cgroup, setup_timeout_s: float,
    frames: protocol.FrameReader | None = None, memory_baseline: int = 0,
) -> RawOutcome:
    """Run to the end: until the init's report is whole (then whatever is still in the
    output pipes is read: every writer is dead by then), or until the pipes close. No
    descriptor is closed here: a reusable sandbox keeps them for its next run.
    ``frames`` holds what the status pipe already said (a warm box's READY)."""
    raw = RawOutcome(frames=frames or protocol.FrameReader(), memory_baseline=memory_baseline)
    sel = selectors.DefaultSelector()
    sinks = {pipes.stdout: (raw.stdout, "stdout"), pipes.stderr: (raw.stderr, "stderr")}
    for fd in (pipes.status, pipes.stdout, pipes.stderr):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    now = time.monotonic()
    deadline = now + setup_timeout_s
    next_poll = now + _CPU_POLL_S

    def kill(reason: str) -> None:
        nonlocal deadline
        if raw.killed_for is None:
            raw.killed_for = reason
        try:
            signal.pidfd_send_signal(init_pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + _AFTER_KILL_S

    def take(fd: int, data: bytes) -> None:
        buf, name = sinks[fd]
        room = limits.output_bytes - len(buf)
        buf += data[:max(room, 0)]
        if len(data) > room:
            setattr(raw, f"{name}_truncated", True)
            kill("output")

    try:
        while sel.get_map() and not raw.frames.complete:
            now = time.monotonic()
            if now >= deadline:
                if raw.killed_for is not None:  # killed, yet the pipes stay open
                    raw.stuck = True
                    break
                kill("wall" if raw.started_at is not None else "setup")
                continue
            if raw.started_at is not None and raw.killed_for is None and now >= next_poll:
                raw.cpu_ns = cgroup.cpu_usage_ns() - raw.cpu_baseline_ns
                if raw.cpu_ns > limits.cpu_time_ms * 1_000_000:
                    kill("cpu")
                next_poll = now + _CPU_POLL_S
            timeout = min(deadline, next_poll) - now
            for key, _ in sel.select(max(timeout, 0)):
                fd = key.fd
                try:
                    data = os.read(fd, _READ)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(fd)
                    continue
                if fd != pipes.status:
                    take(fd, data)
                    continue
                raw.frames.feed(data)
                if raw.started_at is None and raw.frames.first(protocol.STARTED):
                    _on_started(raw, cgroup)
                    deadline = raw.started_at + limits.wall_time_ms / 1000  # type: ignore[operator]
        if raw.frames.complete:  # every writer is dead: what is left in the pipes is all
            for fd in (pipes.stdout, pipes.stderr):
                while fd in sel.get_map() and raw.killed_for is None:
                    try:
                        data = os.read(fd, _READ)
                    except BlockingIOError:
                        break
                    if not data:
                        break
                    take(fd, data)
    finally:
        open_fds = bool(sel.get_map())
        sel.close()
        raw.ended_at = time.monotonic()
        if open_fds and not raw.frames.complete:  # an error left it running: end it
            kill("stuck")
        if raw.frames.first(protocol.EXIT) is None:
            select.select([init_pidfd], [], [])  # no report: make sure it is gone
    return raw


def _on_started(raw: RawOutcome, cgroup: Cgroup) -> None:
    # The peak is not reset here: a short program may be over already, and its peak with
    # it. The baseline is what the sandbox's init (and a warm box's preloaded interpreter)
    # hold; a warm box resets the peak before its order is sent.
    raw.started_at = time.monotonic()
    raw.cpu_baseline_ns = cgroup.cpu_usage_ns()
    if raw.memory_baseline == 0:
        raw.memory_baseline = cgroup.memory_usage_bytes()


def wait_ready(init_pidfd: int, status_fd: int, timeout_s: float,
               already: bytes = b"") -> protocol.FrameReader:
    """A warm sandbox's build: read the status pipe until READY; SandboxSetupError if the
    init reports an error, dies, or takes longer than ``timeout_s``. ``already`` is what
    was read past the end of the previous run's report."""
    frames = protocol.FrameReader()
    frames.feed(already)
    deadline = time.monotonic() + timeout_s
    while frames.first(protocol.READY) is None:
        error = frames.first(protocol.ERROR)
        if error is not None:
            raise SandboxSetupError(f"sandbox setup failed at {error.get('stage')}: "
                                    f"{error.get('message')}")
        left = deadline - time.monotonic()
        ready, _, _ = select.select([status_fd], [], [], max(left, 0))
        if not ready:
            raise SandboxSetupError("building a warm sandbox timed out")
        data = os.read(status_fd, _READ)
        if not data:
            raise SandboxSetupError("the sandbox's init died while being built")
        frames.feed(data)
    return frames
