"""The sandbox's side: pid 1 of a fresh pid namespace, from fork to the program's exit.

``main`` is one fixed sequence, each step a verb of its layer's module:

    enter cgroup → unshare namespaces → hostname → build root → write files → pivot_root
    → rlimits → drop bounding caps → become the sandbox user → clear caps, no_new_privs
    → seccomp → spawn the program (pid 2) → reap until it exits → kill the rest → collect
    → report

Everything it needs was computed by the parent before the fork (``ChildPlan``); nothing is
imported here after the fork. This process (the sandbox's init) runs the program as its
child rather than exec'ing it, so the program gets normal signal semantics (pid 1 ignores
signals it has no handler for), orphans are reaped, and the exit status is reported
through the status pipe. The init itself ends up as unprivileged and filtered as the
program: same uid, no capabilities, seccomp, not dumpable (hence hidden by hidepid=2).
"""

from __future__ import annotations

import fcntl
import fnmatch
import gc
import json
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from typing import NoReturn

from execbox.sandbox import capabilities, libc, mounts, namespaces, protocol, rlimits, users
from execbox.sandbox.spec import BOX_DIR, SandboxFile

_RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                  signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGXFSZ,
                  signal.SIGALRM, signal.SIGCHLD)
_ZYGOTE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TZ": "UTC"}
_ALL_SIGNALS = tuple(s for s in signal.valid_signals()
                     if s not in (signal.SIGKILL, signal.SIGSTOP))


@dataclass(frozen=True, slots=True)
class ChildFds:
    stdin: int  # read end
    stdout: int  # write end
    stderr: int  # write end
    status: int  # write end of the status pipe
    control: int = -1  # read end of the order pipe (warm sandboxes only)


@dataclass(frozen=True, slots=True)
class RunOrder:
    """What to run: known at once for a cold sandbox, sent later to a warm one."""

    argv: tuple[str, ...]
    env: dict[str, str]
    files: tuple[SandboxFile, ...]
    rlimits: tuple[rlimits.Rlimit, ...]  # at most the plan's (an unprivileged init can lower)
    collect: tuple[str, ...]
    collect_max_bytes: int


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
    # "module:function" of the spawner's interpreter that runs the order in a fork of the
    # init instead of an exec: function(argv, env) never returns (a template spawner)
    inprocess: str | None = None


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
        zygote = _start_zygote(plan, fds) if plan.zygote else None
        order = plan.order
        if order is None:
            progress.at("ready")
            protocol.send(fds.status, protocol.READY, {"marks": progress.marks})
            order = protocol.read_order(fds.control)
            os.close(fds.control)
        serve(plan, order, fds, progress, zygote)
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
    if plan.order is None:
        # a warm build yields the CPU to every running request (and so does the zygote it
        # starts); the backend promotes the box back to normal scheduling when it is used
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # the spawner died: so does the box
    _close_other_fds(tuple(fd for fd in (fds.stdin, fds.stdout, fds.stderr, fds.status,
                                         fds.control) if fd >= 0))
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    progress.at("cgroup")
    _enter_cgroup(plan.cgroup_enter_files)
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
          zygote: tuple[int, int] | None = None) -> NoReturn:
    """One run: files in, the program as pid 2, reap, kill the rest, files out, report."""
    progress.at("files")
    mounts.write_files(BOX_DIR, order.files)
    progress.at("spawn")
    os.chdir(BOX_DIR)
    cpu_offset_ns = 0
    if plan.inprocess is not None:
        start = time.monotonic_ns()
        pid = _fork_inprocess(plan.inprocess, order, fds)
    elif zygote is None:
        rlimits.apply(order.rlimits)
        start = time.monotonic_ns()
        pid = _spawn(order, plan.path, fds)
    else:
        pid, go = zygote
        cpu_offset_ns = _cpu_ns(pid)  # the interpreter's own start-up is not the program's
        start = time.monotonic_ns()
        _send_go(go, order)
    progress.at("started")
    protocol.send(fds.status, protocol.STARTED, {"pid": pid, "marks": progress.marks})
    progress.at("wait")
    wait_status, wall_ns = _reap_until_exit(pid, start)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    progress.at("collect")
    names, blobs = _collect(order.collect, order.collect_max_bytes)
    protocol.send(fds.status, protocol.EXIT, {
        "wait_status": wait_status,
        "cpu_ns": max(int((ru.ru_utime + ru.ru_stime) * 1e9) - cpu_offset_ns, 0),
        "maxrss_kb": ru.ru_maxrss,
        "wall_ns": wall_ns,
        "files": names,
    }, b"".join(blobs))
    os._exit(0)


def _close_other_fds(keep: tuple[int, ...]) -> None:
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


def _enter_cgroup(paths: tuple[str, ...]) -> None:
    # Writing 0 to a v1 `tasks` file moves this (single-threaded) process without the global
    # threadgroup lock that makes a cgroup.procs write stall for a RCU grace period.
    for path in paths:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def _spawn(order: RunOrder, path: tuple[str, ...], fds: ChildFds) -> int:
    pid = os.posix_spawn(
        _resolve(order.argv[0], path),
        list(order.argv),
        order.env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, fds.stdin, 0),
            (os.POSIX_SPAWN_DUP2, fds.stdout, 1),
            (os.POSIX_SPAWN_DUP2, fds.stderr, 2),
        ],
        setsid=True,
        setsigmask=(),
        setsigdef=_ALL_SIGNALS,
    )
    for fd in (fds.stdin, fds.stdout, fds.stderr):
        os.close(fd)
    return pid


def _fork_inprocess(target: str, order: RunOrder, fds: ChildFds) -> int:
    """Fork the init; the child becomes the program without exec'ing anything.

    The child starts as a copy of this init, which is a copy of a template spawner that
    held nothing but its interpreter and plans. Before the program's code runs it gets
    what exec would have given it: its own session, stdio on fds 0-2 and nothing else,
    default signals and an empty mask, the order's rlimits, garbage collection back on,
    and a dumpable flag like any program's."""
    module_name, _, function_name = target.partition(":")
    function = getattr(sys.modules[module_name], function_name)  # preloaded by the template
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            for fd, target_fd in ((fds.stdin, 0), (fds.stdout, 1), (fds.stderr, 2)):
                os.dup2(fd, target_fd)
            os.closerange(3, 1 << 20)
            for sig in _ALL_SIGNALS:
                try:
                    signal.signal(sig, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
            signal.pthread_sigmask(signal.SIG_SETMASK, ())
            rlimits.apply(order.rlimits)
            libc.prctl(libc.PR_SET_DUMPABLE, 1)
            gc.freeze()  # the inherited objects: never scanned, so never copied
            gc.enable()
            function(list(order.argv), dict(order.env))
        finally:
            os._exit(127)
    for fd in (fds.stdin, fds.stdout, fds.stderr):
        os.close(fd)
    return pid


def _start_zygote(plan: ChildPlan, fds: ChildFds) -> tuple[int, int]:
    """Start the preloaded interpreter now, on the run's stdio; return when it is loaded.

    The zygote protocol: when loaded, write one byte to fd 4 and close it; then read one
    JSON object from fd 3 until EOF — {"argv": [...], "env": {...}, "cwd": "...",
    "rlimits": [[resource, soft, hard], ...]} — close it, lower its rlimits to those, set
    its environment and directory, and run argv as if it had been started with it."""
    assert plan.zygote is not None
    go_r, go_w = _high_pipe()
    ready_r, ready_w = _high_pipe()
    pid = os.posix_spawn(
        _resolve(plan.zygote[0], plan.path), list(plan.zygote), _ZYGOTE_ENV,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, fds.stdin, 0),
            (os.POSIX_SPAWN_DUP2, fds.stdout, 1),
            (os.POSIX_SPAWN_DUP2, fds.stderr, 2),
            (os.POSIX_SPAWN_DUP2, go_r, 3),
            (os.POSIX_SPAWN_DUP2, ready_w, 4),
        ],
        setsid=True, setsigmask=(), setsigdef=_ALL_SIGNALS,
    )
    for fd in (fds.stdin, fds.stdout, fds.stderr, go_r, ready_w):
        os.close(fd)
    loaded = os.read(ready_r, 1)  # b"" if it died while loading: the order then finds out
    os.close(ready_r)
    if not loaded:
        raise RuntimeError("the preloaded interpreter exited while starting")
    return pid, go_w


def _high_pipe() -> tuple[int, int]:
    """A pipe numbered above the zygote's 0-4, close-on-exec."""
    r, w = os.pipe()
    out = (fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 10))
    os.close(r)
    os.close(w)
    return out


def _send_go(go: int, order: RunOrder) -> None:
    message = json.dumps({
        "argv": list(order.argv),
        "env": order.env,
        "cwd": BOX_DIR,
        "rlimits": [[r.resource, r.soft, r.hard] for r in order.rlimits],
    }).encode()
    view = memoryview(message)
    while view:
        view = view[os.write(go, view):]
    os.close(go)


def _cpu_ns(pid: int) -> int:
    """CPU time a live process has used, in ns (the zygote is ours and dumpable)."""
    fd = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)
    try:
        return int(os.read(fd, 200).split()[0])
    finally:
        os.close(fd)


def _resolve(name: str, path: tuple[str, ...]) -> str:
    if "/" in name:
        return name
    for d in path:
        candidate = f"{d}/{name}"
        if os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(f"{name} not found in {':'.join(path)} inside the sandbox")


def _reap_until_exit(pid: int, start: int) -> tuple[int, int]:
    """Reap children until the program exits; then kill and reap everything left."""
    status = 0
    wall_ns = 0
    while True:
        child, st = os.waitpid(-1, 0)
        if child == pid:
            status, wall_ns = st, time.monotonic_ns() - start
            break
    try:
        os.kill(-1, signal.SIGKILL)  # as pid 1: every other process of the namespace
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return status, wall_ns


def _collect(names: tuple[str, ...], budget: int) -> tuple[list[list[object]], list[bytes]]:
    """Read the asked-for files of the work dir without following any link. A name with
    a wildcard (``*.class``) matches the entries of the work dir's top level."""
    found: list[list[object]] = []
    blobs: list[bytes] = []
    expanded: list[str] = []
    for name in names:
        if any(c in name for c in "*?["):
            expanded += sorted(fnmatch.filter(os.listdir(BOX_DIR), name))
        else:
            expanded.append(name)
    for name in dict.fromkeys(expanded):
        data = _read_beneath(BOX_DIR, name, budget)
        if data is None:
            continue
        budget -= len(data)
        found.append([name, len(data)])
        blobs.append(data)
    return found, blobs


def _read_beneath(top: str, name: str, budget: int) -> bytes | None:
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(top, nofollow | os.O_DIRECTORY)
    try:
        *dirs, base = name.split("/")
        for d in dirs:
            nfd = os.open(d, nofollow | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open(base, nofollow | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        st = os.fstat(ffd)
        if st.st_mode & 61440 != 32768 or st.st_size > budget:
            return None
        chunks = []
        while chunk := os.read(ffd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(ffd)
