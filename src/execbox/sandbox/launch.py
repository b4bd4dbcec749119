"""How the sandbox's init starts the program (child side, after seccomp).

Two ways, one per kind of sandbox: ``spawn`` (posix_spawn of argv: a cold sandbox or a
warm one without a preloaded interpreter); ``start_zygote`` + ``send_go`` (an interpreter
started while the sandbox was warm, then told what to run). Each gives the program its
own session, stdio on fds 0-2 and nothing else, default signals and an empty mask.
(A template sandbox's program is started by the template spawner: ``template.py``.)
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import termios

from execbox.sandbox import rlimits

ALL_SIGNALS = tuple(s for s in signal.valid_signals()
                    if s not in (signal.SIGKILL, signal.SIGSTOP))
_ZYGOTE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TZ": "UTC"}


def spawn(argv: tuple[str, ...], env: dict[str, str], path: tuple[str, ...],
          stdio: tuple[int, int, int], limits: tuple[rlimits.Rlimit, ...],
          keep_limits: bool, tty: bool = False) -> int:
    """Start argv (looked up in ``path`` unless absolute) under ``limits``.

    The fast way, posix_spawn, can only pass on the init's own rlimits, which the init
    (unprivileged) can never raise again: fine for its last run. ``keep_limits`` (a reused
    sandbox with runs to come) forks instead and lowers them in the child only. ``tty``:
    stdio is a terminal, which becomes the program's controlling terminal (fork too)."""
    executable = resolve(argv[0], path)
    if not keep_limits and not tty:
        rlimits.apply(limits)
        return os.posix_spawn(
            executable, list(argv), env,
            file_actions=[(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(stdio)],
            setsid=True, setsigmask=(), setsigdef=ALL_SIGNALS,
        )
    pid = os.fork()
    if pid == 0:
        try:
            _become_program(stdio, limits)
            if tty:
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            os.execve(executable, list(argv), env)  # noqa: S606 - an argv, never a shell
        finally:
            os._exit(127)
    return pid


def _become_program(stdio: tuple[int, ...], limits: tuple[rlimits.Rlimit, ...]) -> None:
    """In a fork of the init: what exec would give a program, and its own limits."""
    os.setsid()
    for target_fd, fd in enumerate(stdio):
        os.dup2(fd, target_fd)
    os.closerange(3, 1 << 20)
    for sig in ALL_SIGNALS:
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    rlimits.apply(limits)


def start_zygote(argv: tuple[str, ...], path: tuple[str, ...],
                 output: tuple[int, int]) -> tuple[int, socket.socket]:
    """Start the preloaded interpreter now, on the run's stdout and stderr; return when it
    is loaded.

    The zygote protocol: when loaded, write one byte to fd 4 and close it; then receive on
    the unix socket fd 3 one JSON object until EOF — {"argv": [...], "env": {...},
    "cwd": "...", "rlimits": [[resource, soft, hard], ...]} — with the run's stdin attached
    (SCM_RIGHTS; make it fd 0), lower its rlimits to those, set its environment and
    directory, and run argv as if it had been started with it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    go = fcntl.fcntl(theirs.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
    theirs.close()
    ready_r, ready_w = _high_pipe()
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    pid = os.posix_spawn(
        resolve(argv[0], path), list(argv), _ZYGOTE_ENV,
        file_actions=[(os.POSIX_SPAWN_DUP2, fd, n)
                      for n, fd in enumerate((null, *output, go, ready_w))],
        setsid=True, setsigmask=(), setsigdef=ALL_SIGNALS,
    )
    for fd in (null, go, ready_w):
        os.close(fd)
    loaded = os.read(ready_r, 1)  # b"" if it died while loading: the order then finds out
    os.close(ready_r)
    if not loaded:
        raise RuntimeError("the preloaded interpreter exited while starting")
    return pid, ours


def _high_pipe() -> tuple[int, int]:
    """A pipe numbered above the zygote's 0-4, close-on-exec."""
    r, w = os.pipe()
    out = (fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 10))
    os.close(r)
    os.close(w)
    return out


def send_go(go: socket.socket, argv: tuple[str, ...], env: dict[str, str], cwd: str,
            limits: tuple[rlimits.Rlimit, ...], stdin: int) -> None:
    """Tell a zygote what to run, and hand it its stdin (then it is the program)."""
    message = json.dumps({
        "argv": list(argv), "env": env, "cwd": cwd,
        "rlimits": [[r.resource, r.soft, r.hard] for r in limits],
    }).encode()
    socket.send_fds(go, [message[:1]], [stdin])
    go.sendall(message[1:])
    go.close()


def cpu_ns(pid: int) -> int:
    """CPU time a live process has used, in ns (the zygote is ours and dumpable)."""
    fd = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)
    try:
        return int(os.read(fd, 200).split()[0])
    finally:
        os.close(fd)


def resolve(name: str, path: tuple[str, ...]) -> str:
    if "/" in name:
        return name
    for d in path:
        candidate = f"{d}/{name}"
        if os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(f"{name} not found in {':'.join(path)} inside the sandbox")
