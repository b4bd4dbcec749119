"""The sandbox's side: pid 1 of a fresh pid namespace, from fork to the program's exit.

``main`` is one fixed sequence, each step a verb of its layer's module:

    prepare: enter cgroup → unshare namespaces → hostname → build root → pivot_root
             → rlimits → drop bounding caps → become the sandbox user → clear caps,
             no_new_privs → seccomp   [a zygote starts here, if any]
    (warm:   report READY, wait for the order)
    serve:   write files → launch the program as pid 2 (``launch``: spawn, zygote or
             in-process fork) → reap until it exits → kill the rest → collect → report

Everything it needs was computed by the parent before the fork (``ChildPlan``); nothing is
imported here after the fork. This process (the sandbox's init) runs the program as its
child rather than exec'ing it, so the program gets normal signal semantics (pid 1 ignores
signals it has no handler for), orphans are reaped, and the exit status is reported
through the status pipe. The init itself ends up as unprivileged and filtered as the
program: same uid, no capabilities, seccomp, not dumpable (hence hidden by hidepid=2).
"""

from __future__ import annotations

import gc
import os
import resource
import signal
import socket
import stat
import time
from dataclasses import dataclass
from typing import NoReturn

from execbox.sandbox import (
    boxfiles,
    capabilities,
    collect,
    launch,
    libc,
    mounts,
    namespaces,
    protocol,
    rlimits,
    terminal,
    users,
)
from execbox.sandbox.spec import BOX_DIR, SandboxFile

_RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                  signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGXFSZ,
                  signal.SIGALRM, signal.SIGCHLD)


@dataclass(frozen=True, slots=True)
class ChildFds:
    stdout: int  # write end
    stderr: int  # write end
    status: int  # write end of the status pipe
    control: int = -1  # read end of the order pipe (warm sandboxes only)
    stdin: int = -1  # read end of the stdin pipe (interactive runs only)


@dataclass(frozen=True, slots=True)
class RunOrder:
    """What to run: known at once for a cold sandbox, sent later to a warm one."""

    argv: tuple[str, ...]
    env: dict[str, str]
    files: tuple[SandboxFile, ...]
    rlimits: tuple[rlimits.Rlimit, ...]  # at most the plan's (an unprivileged init can lower)
    collect: tuple[str, ...]
    collect_max_bytes: int
    stdin: bytes = b""  # becomes the program's fd 0 (a memfd: a regular, seekable file)
    interactive: bool = False  # fd 0 is the stdin pipe instead, written while it runs
    pty: tuple[int, int] | None = None  # (rows, cols): stdio is a terminal the init relays


@dataclass(frozen=True, slots=True)
class ChildPlan:
    """How to build the sandbox (everything but the run itself)."""

    path: tuple[str, ...]  # where argv[0] is looked up inside the sandbox, unless absolute
    cgroup_enter_files: tuple[str, ...]
    hostname: str
    root: mounts.RootPlan
    rlimits: tuple[rlimits.Rlimit, ...]
    last_cap: int
    seccomp_bpf: bytes
    order: RunOrder | None = None  # None: a warm sandbox, waiting on fds.control
    zygote: tuple[str, ...] | None = None  # a preloaded interpreter started while warm
    max_uses: int = 1  # a warm sandbox runs this many orders, wiped clean between them
    idle: bool = True  # a warm build runs at SCHED_IDLE (False: a request waits for it)


class _Progress:
    """Which step the init is at (named in an error report) and when each began."""

    def __init__(self) -> None:
        self.stage = "start"
        self.marks: list[tuple[str, int]] = [("start", time.monotonic_ns())]

    def at(self, stage: str) -> None:
        self.stage = stage
        self.marks.append((stage, time.monotonic_ns()))


def main(plan: ChildPlan, fds: ChildFds) -> NoReturn:
    """Runs in the forked child; never returns."""
    progress = _Progress()
    try:
        prepare(plan, fds, progress)
        if plan.order is not None:  # cold: the order came with the plan
            serve(plan, plan.order, fds, progress, None, last=True)
            os._exit(0)
        for use in range(plan.max_uses):
            if use:
                progress.marks.clear()  # timestamps are per run
                progress.at("reset")
                _wipe()
            zygote = (launch.start_zygote(plan.zygote, plan.path, (fds.stdout, fds.stderr))
                      if plan.zygote else None)
            progress.at("ready")
            protocol.send(fds.status, protocol.READY, {"marks": progress.marks})
            try:
                order = protocol.read_order(fds.control)
            except EOFError:  # the backend does not want this sandbox any more
                os._exit(0)
            serve(plan, order, fds, progress, zygote, last=use == plan.max_uses - 1)
        os._exit(0)
    except BaseException as exc:
        try:
            protocol.send(fds.status, protocol.ERROR, {
                "stage": progress.stage,
                "errno": getattr(exc, "errno", None),
                "message": f"{type(exc).__name__}: {exc}",
            })
        finally:
            os._exit(125)


def prepare(plan: ChildPlan, fds: ChildFds, progress: _Progress) -> None:
    """Everything that does not depend on the program: the sandbox, sealed."""
    gc.disable()
    if plan.order is None and plan.idle:
        # a warm build yields the CPU to every running request (and so does the zygote it
        # starts); the backend promotes the box back to normal scheduling when it is used
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # the spawner died: so does the box
    close_other_fds(tuple(fd for fd in (fds.stdout, fds.stderr, fds.status, fds.control,
                                         fds.stdin) if fd >= 0))
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    progress.at("cgroup")
    enter_cgroup(plan.cgroup_enter_files)
    progress.at("namespaces")
    namespaces.unshare_rest()
    libc.sethostname(plan.hostname)
    progress.at("mounts")
    mounts.build(plan.root)
    progress.at("pivot_root")
    mounts.pivot(plan.root)
    progress.at("rlimits")
    rlimits.apply(plan.rlimits)
    progress.at("capabilities")
    capabilities.drop_bounding(plan.last_cap)
    progress.at("user")
    users.become(plan.root.uid, plan.root.gid)
    progress.at("capabilities")
    capabilities.clear()
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # the uid change cleared it
    progress.at("seccomp")
    libc.seccomp_load_bpf(plan.seccomp_bpf)


def serve(plan: ChildPlan, order: RunOrder, fds: ChildFds, progress: _Progress,
          zygote: tuple[int, socket.socket] | None, last: bool) -> None:
    """One run: files in, the program as pid 2, reap, kill the rest, files out, report."""
    progress.at("files")
    boxfiles.write_files(BOX_DIR, ((f.name, f.content, f.executable) for f in order.files))
    master = -1
    if order.pty is not None:
        master, stdin = terminal.open_pty(*order.pty)
        stdio = (stdin, stdin, stdin)
    else:
        stdin = fds.stdin if order.interactive else boxfiles.memfd(order.stdin)
        stdio = (stdin, fds.stdout, fds.stderr)
    progress.at("spawn")
    os.chdir(BOX_DIR)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_offset_ns = int((before.ru_utime + before.ru_stime) * 1e9)  # earlier runs' time
    if master >= 0:
        start = time.monotonic_ns()
        pid = launch.spawn(order.argv, order.env, plan.path, stdio, order.rlimits,
                           keep_limits=not last, tty=True)
    elif zygote is None:
        start = time.monotonic_ns()
        pid = launch.spawn(order.argv, order.env, plan.path, stdio, order.rlimits,
                           keep_limits=not last)
    else:
        pid, go = zygote
        cpu_offset_ns += launch.cpu_ns(pid)  # the interpreter's start-up is not the program's
        start = time.monotonic_ns()
        launch.send_go(go, order.argv, order.env, BOX_DIR, order.rlimits, stdin)
    os.close(stdin)
    progress.at("started")
    protocol.send(fds.status, protocol.STARTED, {"pid": pid, "marks": progress.marks})
    progress.at("wait")
    if master >= 0:
        wait_status, wall_ns = terminal.relay(master, fds.stdin, fds.stdout, pid, start)
        _kill_rest()
    else:
        wait_status, wall_ns = _reap_until_exit(pid, start)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    progress.at("collect")
    names, blobs = collect.collect(BOX_DIR, order.collect, order.collect_max_bytes)
    protocol.send(fds.status, protocol.EXIT, {
        "wait_status": wait_status,
        "cpu_ns": max(int((ru.ru_utime + ru.ru_stime) * 1e9) - cpu_offset_ns, 0),
        "maxrss_kb": ru.ru_maxrss,
        "wall_ns": wall_ns,
        "files": names,
    }, b"".join(blobs))


def _wipe() -> None:
    """Between two runs of a reused sandbox: nothing of the last one may remain. Its
    processes are dead (killed and reaped); its files go, and its System V IPC objects."""
    for top in (BOX_DIR, "/tmp", "/dev/shm"):
        for entry in os.listdir(top):
            _remove(os.path.join(top, entry))
    for kind, remove in (("shm", libc.shm_remove), ("sem", libc.sem_remove),
                         ("msg", libc.msg_remove)):
        with open(f"/proc/sysvipc/{kind}") as f:
            next(f)
            for line in f:
                remove(int(line.split()[1]))


def _remove(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        os.chmod(path, 0o700)  # a program may have left it unreadable; it is the owner
        for entry in os.listdir(path):
            _remove(os.path.join(path, entry))
        os.rmdir(path)
    else:
        os.unlink(path)


def close_other_fds(keep: tuple[int, ...]) -> None:
    """Nothing of the spawner's survives into the sandbox, and the program gets only its
    stdio: the status pipe in particular is close-on-exec (a program that could write to
    it could forge its own result)."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
        os.set_inheritable(fd, False)
    os.closerange(low, 1 << 20)


def enter_cgroup(paths: tuple[str, ...]) -> None:
    # Writing 0 to a v1 `tasks` file moves this (single-threaded) process without the global
    # threadgroup lock that makes a cgroup.procs write stall for a RCU grace period.
    for path in paths:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def _reap_until_exit(pid: int, start: int) -> tuple[int, int]:
    """Reap children until the program exits; then kill and reap everything left."""
    status = 0
    wall_ns = 0
    while True:
        child, st = os.waitpid(-1, 0)
        if child == pid:
            status, wall_ns = st, time.monotonic_ns() - start
            break
    _kill_rest()
    return status, wall_ns


def _kill_rest() -> None:
    """The program is gone: kill and reap every other process of the namespace."""
    try:
        os.kill(-1, signal.SIGKILL)  # as pid 1: every other process of the namespace
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


