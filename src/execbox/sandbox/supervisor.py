"""The host's side of one run: collect capped output, enforce wall and CPU time.

``Watch`` is one run's state; a driver waits for its pipes (the status pipe, stdout and
stderr) and its next deadline: ``supervise`` in a thread (one ``selectors`` loop),
``supervise_async`` on the event loop (the service's warm runs: no thread hop). Killing
means SIGKILL to the sandbox's init: as pid 1 of the sandbox's pid namespace its death
makes the kernel kill every other process in it (daemons, setsid, double forks); the
cgroup sweep after the run is the second line.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import select
import selectors
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from execbox.errors import SandboxSetupError
from execbox.sandbox import protocol
from execbox.sandbox.cgroups import Cgroup, CgroupStats
from execbox.sandbox.interaction import Interaction, Op
from execbox.sandbox.loop_pipes import loop_pipes
from execbox.sandbox.spec import Stop
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
    stdin: int = -1  # write end of the program's stdin (interactive runs only)

    def close(self) -> None:
        for fd in (self.status, self.stdout, self.stderr, self.control, self.stdin):
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
    killed_for: str | None = None  # "output" | "wall" | "cpu" | "setup" | "stuck" | "client"
    stuck: bool = False  # pipes still open long after the kill: execbox's failure
    started_at: float | None = None
    ended_at: float = 0.0
    cpu_baseline_ns: int = 0
    cpu_ns: int = 0  # cgroup usage since the program started
    memory_baseline: int = 0  # what the cgroup held that is not the program's
    stats: CgroupStats | None = None


def pipes_for_child(warm: bool = False, interactive: bool = False,
                    ) -> tuple[Pipes, tuple[int, ...]]:
    """(parent ends, child ends: stdout-write, stderr-write, status-write, order-read or
    -1, stdin-read or -1). The order pipe is a warm sandbox's; the stdin pipe an
    interactive run's: otherwise the init makes stdin from the order (a memfd)."""
    status, stdout, stderr = (_pipe() for _ in range(3))
    parent = Pipes(status=status[0], stdout=stdout[0], stderr=stderr[0])
    ends: list[int] = [stdout[1], stderr[1], status[1], -1, -1]
    if warm:
        control = _pipe()
        parent.control = control[1]
        ends[3] = control[0]
    if interactive:
        stdin = _pipe()
        parent.stdin = stdin[1]
        ends[4] = stdin[0]
    return parent, tuple(ends)


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    # never 0, 1 or 2: dup2 onto the same number would keep close-on-exec set
    out = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) if fd < 3 else fd for fd in (r, w))
    for old, new in zip((r, w), out, strict=True):
        if old != new:
            os.close(old)
    return out[0], out[1]


class Watch:
    """One run's supervision without its waiting: what to read, until when, and what
    happened. A driver waits for its descriptors (``open``) to be readable or for
    ``wake_at``, and tells it: ``readable(fd)``, ``tick()``; ``supervise`` is the blocking
    driver (a thread), ``supervise_async`` the event loop's. Killing means SIGKILL to the
    init (``kill``); the run is over when ``over`` (the init's report is whole, or the
    pipes closed, or it is stuck)."""

    def __init__(self, init_pidfd: int, pipes: Pipes, limits: Limits, cgroup: Cgroup,
                 setup_timeout_s: float, frames: protocol.FrameReader | None,
                 memory_baseline: int | None, interaction: Interaction | None,
                 program_memory: Callable[[], int] | None,
                 stop: Stop | None = None) -> None:
        self.raw = RawOutcome(frames=frames or protocol.FrameReader(),
                              memory_baseline=memory_baseline or 0)
        self.init_pidfd = init_pidfd
        self.pipes = pipes
        self.limits = limits
        self.cgroup = cgroup
        self.interaction = interaction
        self.measure_memory = memory_baseline is None
        self.program_memory = program_memory
        self.stop = stop
        self.sinks = {pipes.stdout: (self.raw.stdout, "stdout"),
                      pipes.stderr: (self.raw.stderr, "stderr")}
        self.sent = {"stdout": 0, "stderr": 0}  # streamed to an interaction
        self.open = [pipes.status, pipes.stdout, pipes.stderr]
        for fd in self.open:
            os.set_blocking(fd, False)
        now = time.monotonic()
        self.deadline = now + setup_timeout_s
        self.next_poll = now + _CPU_POLL_S

    @property
    def over(self) -> bool:
        return not self.open or self.raw.frames.complete or self.raw.stuck

    @property
    def wake_at(self) -> float:
        """When ``tick`` has something to check (monotonic)."""
        polling = self.raw.killed_for is None and (self.raw.started_at is not None
                                                   or self.stop is not None)
        return min(self.deadline, self.next_poll) if polling else self.deadline

    def kill(self, reason: str) -> None:
        if self.raw.killed_for is None:
            self.raw.killed_for = reason
        try:
            signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.deadline = time.monotonic() + _AFTER_KILL_S

    def tick(self) -> None:
        """The time limits: setup, wall (both from ``deadline``) and CPU (polled); and
        ``stop`` (polled as the CPU, from the start)."""
        raw = self.raw
        now = time.monotonic()
        if now >= self.deadline:
            if raw.killed_for is not None:  # killed, yet the pipes stay open
                raw.stuck = True
            else:
                self.kill("wall" if raw.started_at is not None else "setup")
            return
        if raw.killed_for is not None or now < self.next_poll:
            return
        if self.stop is not None and self.stop.is_set():
            self.kill("client")
            return
        if raw.started_at is not None:
            raw.cpu_ns = self.cgroup.cpu_usage_ns() - raw.cpu_baseline_ns
            if raw.cpu_ns > self.limits.cpu_time_ms * 1_000_000:
                self.kill("cpu")
        self.next_poll = now + _CPU_POLL_S

    def readable(self, fd: int) -> None:
        """Read what ``fd`` (one of ``open``) has; at its end it leaves ``open``."""
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        if not data:
            self.open.remove(fd)
            return
        if fd != self.pipes.status:
            self.take(fd, data)
            return
        raw = self.raw
        raw.frames.feed(data)
        if raw.started_at is None and raw.frames.first(protocol.STARTED):
            _on_started(raw, self.cgroup, self.measure_memory, self.program_memory)
            self.deadline = raw.started_at + self.limits.wall_time_ms / 1000  # type: ignore[operator]
            if self.interaction is not None and self.interaction.on_started is not None:
                self.interaction.on_started()

    def take(self, fd: int, data: bytes) -> None:
        buf, name = self.sinks[fd]
        room = self.limits.output_bytes - (len(buf) if self.interaction is None
                                           else self.sent[name])
        if self.interaction is None:
            buf += data[:max(room, 0)]
        elif room > 0:
            self.sent[name] += min(len(data), room)
            self.interaction.on_output(name, data[:room])
        if len(data) > room:
            setattr(self.raw, f"{name}_truncated", True)
            self.kill("output")

    def drain(self) -> None:
        """The report is whole, so every writer is dead: what is left in the pipes is all."""
        if not self.raw.frames.complete:
            return
        for fd in (self.pipes.stdout, self.pipes.stderr):
            while fd in self.open and self.raw.killed_for is None:
                try:
                    data = os.read(fd, _READ)
                except BlockingIOError:
                    break
                if not data:
                    break
                self.take(fd, data)

    def end(self) -> bool:
        """The run is over (or the driver failed): note the time, end a sandbox an error
        left running. True if the init did not report its end: the driver must then wait
        for its pidfd (``init_pidfd`` readable) before the outcome is decided."""
        self.raw.ended_at = time.monotonic()
        if self.open and not self.raw.frames.complete:
            self.kill("stuck")
        return self.raw.frames.first(protocol.EXIT) is None


def supervise(
    init_pidfd: int, pipes: Pipes, limits: Limits, cgroup: Cgroup, setup_timeout_s: float,
    frames: protocol.FrameReader | None = None, memory_baseline: int | None = None,
    interaction: Interaction | None = None,
    signal_program: Callable[[int], None] | None = None,
    program_memory: Callable[[], int] | None = None,
    stop: Stop | None = None,
) -> RawOutcome:
    """Run to the end: until the init's report is whole (then whatever is still in the
    output pipes is read: every writer is dead by then), or until the pipes close. No
    descriptor is closed here: a reusable sandbox keeps them for its next run.
    ``frames`` holds what the status pipe already said (a warm box's READY);
    ``memory_baseline`` what the cgroup holds that is not the program's, or None to measure
    it when the program starts (less ``program_memory()``, what the program holds then).

    With an ``interaction`` output is handed to it as it arrives instead of kept (the
    output cap counts it all the same), and what it queues is done here: stdin written to
    ``pipes.stdin`` as the program takes it, EOF, signals (``signal_program``), kill.
    ``stop``, once set (from any thread), kills the run as its client's (within 10 ms)."""
    watch = Watch(init_pidfd, pipes, limits, cgroup, setup_timeout_s, frames,
                  memory_baseline, interaction, program_memory, stop)
    sel = selectors.DefaultSelector()
    for fd in watch.open:
        sel.register(fd, selectors.EVENT_READ)
    feeder = _StdinFeeder(sel, pipes, interaction) if interaction is not None else None

    def interact() -> None:
        assert feeder is not None and interaction is not None
        for op in interaction.take():
            if op.kind == "kill":
                watch.kill("client")
            elif op.kind == "signal" and signal_program is not None:
                signal_program(op.signal)
            else:
                feeder.add(op)

    try:
        while not watch.over:
            watch.tick()
            if watch.over:
                break
            for key, _ in sel.select(max(watch.wake_at - time.monotonic(), 0)):
                fd = key.fd
                if feeder is not None and fd == feeder.wake:
                    interact()
                elif feeder is not None and fd == pipes.stdin:
                    feeder.flush()
                else:
                    watch.readable(fd)
                    if fd not in watch.open:
                        sel.unregister(fd)
        if feeder is not None:
            feeder.stop()
            feeder = None
        watch.drain()
    finally:
        if feeder is not None:
            feeder.stop()
        sel.close()
        if watch.end():
            select.select([init_pidfd], [], [])  # no report: make sure it is gone
    return watch.raw


async def supervise_async(
    init_pidfd: int, pipes: Pipes, limits: Limits, cgroup: Cgroup, setup_timeout_s: float,
    frames: protocol.FrameReader | None = None, memory_baseline: int | None = None,
    program_memory: Callable[[], int] | None = None,
) -> RawOutcome:
    """``supervise`` driven by the running event loop (no interaction): the pipes are
    watched through the loop's epoll (``loop_pipes``), the limits with a timer, so no
    thread waits for the run and none has to wake the loop when it ends. If the awaiting
    task is cancelled, the run is killed (its client went away) and the cancellation goes
    on once its pipes have closed, as a run's end."""
    watch = Watch(init_pidfd, pipes, limits, cgroup, setup_timeout_s, frames,
                  memory_baseline, None, program_memory)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    timer: asyncio.TimerHandle | None = None
    armed_at = 0.0

    def settle() -> None:
        nonlocal timer, armed_at
        if watch.over:
            if not done.done():
                done.set_result(None)
            return
        if timer is None or watch.wake_at != armed_at:
            if timer is not None:
                timer.cancel()
            armed_at = watch.wake_at
            timer = loop.call_at(_loop_time(loop, armed_at), on_time)

    def failed(exc: Exception) -> None:  # raised where the thread's driver would raise
        if not done.done():
            done.set_exception(exc)

    def on_read(fd: int) -> None:
        try:
            watch.readable(fd)
            if fd not in watch.open:
                watched.remove(fd)
            settle()
        except Exception as exc:  # handed to the awaiting task
            failed(exc)

    def on_time() -> None:
        nonlocal timer
        timer = None
        try:
            watch.tick()
            settle()
        except Exception as exc:  # handed to the awaiting task
            failed(exc)

    watched = loop_pipes(loop)
    cancelled = False
    try:
        for fd in watch.open:
            watched.add(fd, on_read)
        settle()
        while not done.done():
            try:
                await done  # not shielded: a shield costs a turn of the loop per run
            except asyncio.CancelledError:
                if cancelled:
                    raise
                cancelled = True  # the caller is gone: end the run, then go on cancelling
                if done.cancelled():  # with the task: the closures above see the new one
                    done = loop.create_future()
                watch.kill("client")
                settle()
        watch.drain()
    finally:
        for fd in watch.open:
            watched.remove(fd)
        if timer is not None:
            timer.cancel()
        if watch.end():  # no report: make sure the init is gone
            await _exited(loop, init_pidfd)
    if cancelled:
        raise asyncio.CancelledError
    return watch.raw


async def write_async(fd: int, data: bytes) -> None:
    """All of ``data`` to a pipe, from the event loop: what it takes at once is written
    at once (no wait at all for a small order to an empty pipe); the rest as the reader
    makes room."""
    if len(data) <= select.PIPE_BUF:  # taken at once (and whole) by the empty order pipe
        os.write(fd, data)
        return
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    os.set_blocking(fd, False)
    try:
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                room: asyncio.Future[None] = loop.create_future()
                loop.add_writer(fd, _wake, room)
                try:
                    await room
                finally:
                    loop.remove_writer(fd)
    finally:
        os.set_blocking(fd, True)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _loop_time(loop: asyncio.AbstractEventLoop, monotonic_at: float) -> float:
    """A ``time.monotonic()`` instant on the loop's clock, a millisecond late rather than
    early (uvloop's clock counts whole milliseconds): ``tick`` then finds it passed."""
    return loop.time() + (monotonic_at - time.monotonic()) + 0.001


async def _exited(loop: asyncio.AbstractEventLoop, pidfd: int) -> None:
    if select.select([pidfd], [], [], 0)[0]:
        return
    gone: asyncio.Future[None] = loop.create_future()
    loop.add_reader(pidfd, _wake, gone)
    try:
        await asyncio.shield(gone)
    finally:
        loop.remove_reader(pidfd)


class _StdinFeeder:
    """An interactive run's stdin: queued bytes written as the pipe takes them, then EOF.
    Its write end is watched only while something waits to be written."""

    def __init__(self, sel: selectors.BaseSelector, pipes: Pipes,
                 interaction: Interaction) -> None:
        self.sel = sel
        self.pipes = pipes
        self.interaction = interaction
        self.wake = interaction.wake_r
        self.queue: list[bytes] = []
        self.eof = False
        sel.register(self.wake, selectors.EVENT_READ)
        if pipes.stdin >= 0:
            os.set_blocking(pipes.stdin, False)

    def add(self, op: Op) -> None:
        if op.kind == "stdin" and op.data:
            self.queue.append(op.data)
        elif op.kind == "eof":
            self.eof = True
        self.flush()

    def flush(self) -> None:
        fd = self.pipes.stdin
        while fd >= 0 and self.queue:
            chunk = self.queue[0]
            try:
                n = os.write(fd, chunk)
            except BlockingIOError:
                break
            except BrokenPipeError:  # the program closed its stdin: nobody will read it
                self.interaction.consumed(sum(len(c) for c in self.queue))
                self.queue.clear()
                self.eof = True
                break
            self.interaction.consumed(n)
            if n == len(chunk):
                self.queue.pop(0)
            else:
                self.queue[0] = chunk[n:]
        if fd >= 0 and self.eof and not self.queue:
            self._close()
        elif fd >= 0:
            self._watch(bool(self.queue))

    def _watch(self, on: bool) -> None:
        fd = self.pipes.stdin
        registered = fd in self.sel.get_map()
        if on and not registered:
            self.sel.register(fd, selectors.EVENT_WRITE)
        elif not on and registered:
            self.sel.unregister(fd)

    def _close(self) -> None:
        self._watch(False)
        os.close(self.pipes.stdin)
        self.pipes.stdin = -1

    def stop(self) -> None:
        """The run is over: nothing more goes in; the wake pipe is the caller's."""
        if self.wake in self.sel.get_map():
            self.sel.unregister(self.wake)
        if self.pipes.stdin >= 0:
            self._close()
        self.interaction.consumed(sum(len(c) for c in self.queue))
        self.queue.clear()


def _on_started(raw: RawOutcome, cgroup: Cgroup, measure_memory: bool,
                program_memory: Callable[[], int] | None) -> None:
    # The peak is not reset here: a short program may be over already, and its peak with
    # it. The baseline is what the sandbox's init holds: the cgroup's usage now, less what
    # the program (started already) holds of it; a warm box measured it before its order.
    raw.started_at = time.monotonic()
    raw.cpu_baseline_ns = cgroup.cpu_usage_ns()
    if measure_memory:
        usage = cgroup.memory_usage_bytes()
        raw.memory_baseline = max(usage - (program_memory() if program_memory else 0), 0)


def wait_ready(init_pidfd: int, status_fd: int, timeout_s: float,
               already: bytes = b"", frames: protocol.FrameReader | None = None,
               until: bytes = protocol.READY) -> protocol.FrameReader:
    """A warm sandbox's build: read the status pipe until READY (or ``until``: a template
    sandbox's program says ARMED); SandboxSetupError if the init reports an error, dies,
    or takes longer than ``timeout_s``. ``already`` is what was read past the end of the
    previous run's report; ``frames`` what was read before."""
    if frames is None:
        frames = protocol.FrameReader()
    frames.feed(already)
    deadline = time.monotonic() + timeout_s
    while frames.first(until) is None:
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
