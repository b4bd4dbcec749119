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

import gc
import os
import resource
import signal
import time
from dataclasses import dataclass
from typing import NoReturn

from execbox.sandbox import capabilities, libc, mounts, namespaces, protocol, rlimits, users
from execbox.sandbox.spec import BOX_DIR, SandboxFile

_RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                  signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGXFSZ,
                  signal.SIGALRM, signal.SIGCHLD)
_ALL_SIGNALS = tuple(s for s in signal.valid_signals()
                     if s not in (signal.SIGKILL, signal.SIGSTOP))


@dataclass(frozen=True, slots=True)
class ChildFds:
    stdin: int  # read end
    stdout: int  # write end
    stderr: int  # write end
    status: int  # write end of the status pipe


@dataclass(frozen=True, slots=True)
class ChildPlan:
    argv: tuple[str, ...]
    path: tuple[str, ...]  # where argv[0] is looked up inside the sandbox, unless absolute
    env: dict[str, str]
    cgroup_enter_files: tuple[str, ...]
    hostname: str
    root: mounts.RootPlan
    files: tuple[SandboxFile, ...]
    rlimits: tuple[rlimits.Rlimit, ...]
    last_cap: int
    seccomp_bpf: bytes
    collect: tuple[str, ...]
    collect_max_bytes: int


def main(plan: ChildPlan, fds: ChildFds) -> NoReturn:
    """Runs in the forked child; never returns."""
    stage = "start"
    marks: list[tuple[str, int]] = [("start", time.monotonic_ns())]
    try:
        gc.disable()
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # the spawner died: so does the box
        _close_other_fds((fds.stdin, fds.stdout, fds.stderr, fds.status))
        for sig in _RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        stage = "cgroup"
        marks.append((stage, time.monotonic_ns()))
        _enter_cgroup(plan.cgroup_enter_files)
        stage = "namespaces"
        marks.append((stage, time.monotonic_ns()))
        namespaces.unshare_rest()
        libc.sethostname(plan.hostname)
        stage = "mounts"
        marks.append((stage, time.monotonic_ns()))
        mounts.build(plan.root)
        stage = "files"
        marks.append((stage, time.monotonic_ns()))
        mounts.write_files(plan.root, plan.files)
        stage = "pivot_root"
        marks.append((stage, time.monotonic_ns()))
        mounts.pivot(plan.root)
        stage = "rlimits"
        marks.append((stage, time.monotonic_ns()))
        rlimits.apply(plan.rlimits)
        stage = "capabilities"
        marks.append((stage, time.monotonic_ns()))
        capabilities.drop_bounding(plan.last_cap)
        stage = "user"
        marks.append((stage, time.monotonic_ns()))
        users.become(plan.root.uid, plan.root.gid)
        stage = "capabilities"
        marks.append((stage, time.monotonic_ns()))
        capabilities.clear()
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # the uid change cleared it
        stage = "seccomp"
        marks.append((stage, time.monotonic_ns()))
        libc.seccomp_load_bpf(plan.seccomp_bpf)
        stage = "spawn"
        marks.append((stage, time.monotonic_ns()))
        os.chdir(BOX_DIR)
        start = time.monotonic_ns()
        pid = _spawn(plan, fds)
        marks.append(("started", time.monotonic_ns()))
        protocol.send(fds.status, protocol.STARTED, {"pid": pid, "marks": marks})
        stage = "wait"
        marks.append((stage, time.monotonic_ns()))
        wait_status, wall_ns = _reap_until_exit(pid, start)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        stage = "collect"
        marks.append((stage, time.monotonic_ns()))
        names, blobs = _collect(plan.collect, plan.collect_max_bytes)
        protocol.send(fds.status, protocol.EXIT, {
            "wait_status": wait_status,
            "cpu_ns": int((ru.ru_utime + ru.ru_stime) * 1e9),
            "maxrss_kb": ru.ru_maxrss,
            "wall_ns": wall_ns,
            "files": names,
        }, b"".join(blobs))
        os._exit(0)
    except BaseException as exc:
        try:
            protocol.send(fds.status, protocol.ERROR, {
                "stage": stage,
                "errno": getattr(exc, "errno", None),
                "message": f"{type(exc).__name__}: {exc}",
            })
        finally:
            os._exit(125)


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


def _spawn(plan: ChildPlan, fds: ChildFds) -> int:
    pid = os.posix_spawn(
        _resolve(plan.argv[0], plan.path),
        list(plan.argv),
        plan.env,
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
    """Read the asked-for files of the work dir without following any link."""
    found: list[list[object]] = []
    blobs: list[bytes] = []
    for name in names:
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
