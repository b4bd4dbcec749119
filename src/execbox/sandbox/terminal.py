"""A terminal for an interactive run that asks for one (child side, inside the sandbox).

The pty comes from the sandbox's own devpts instance (``mounts`` mounts one at /dev/pts
when the run wants a terminal): nothing of the host's terminals is visible, and the
init, not the host, holds the master. The init relays between the master and the run's
pipes — the stdin pipe in, the stdout pipe out — until the program exits.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import time

_TIOCSPTLCK = 0x40045431  # unlock the slave
_TIOCGPTPEER = 0x5441  # open the slave from the master, no path lookup (Linux >= 4.13)
_TIOCSWINSZ = 0x5414
_EOF = b"\x04"  # what the terminal reads as end of input (VEOF, canonical mode)
_CHUNK = 1 << 16


def open_pty(rows: int, cols: int) -> tuple[int, int]:
    """(master, slave) of a fresh pty of this size, both close-on-exec."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, _TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def relay(master: int, stdin: int, stdout: int, pid: int, start: int) -> tuple[int, int]:
    """Copy the stdin pipe to the terminal and the terminal to the stdout pipe until the
    program ``pid`` exits (reaping orphans meanwhile); (wait status, wall ns). EOF on
    the stdin pipe is typed as ^D."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    os.set_blocking(master, False)
    os.set_blocking(stdin, False)
    pending = b""
    reading_in = True
    master_open = True  # False once every holder of the terminal closed it (EIO)
    status: int | None = None
    wall_ns = 0
    while status is None:
        status, wall_ns = _reap(pid, start)
        if status is not None:
            break
        rlist = [wake_r] + ([master] if master_open else []) + (
            [stdin] if reading_in and len(pending) < _CHUNK else [])
        wlist = [master] if pending and master_open else []
        ready_r, ready_w, _ = select.select(rlist, wlist, [], 0.1)
        if wake_r in ready_r:
            _drain(wake_r)
        if master in ready_r:
            master_open = _copy_out(master, stdout)
        if stdin in ready_r:
            data = _read(stdin)
            if data is None:
                pass
            elif data:
                pending += data
            else:
                reading_in = False
                pending += _EOF
        if master in ready_w and pending:
            try:
                pending = pending[os.write(master, pending):]
            except BlockingIOError:
                pass
            except OSError:  # nobody holds the terminal: input goes nowhere
                pending = b""
    if master_open:
        _copy_out(master, stdout)  # what it wrote before it exited
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in (wake_r, wake_w, master):
        os.close(fd)
    return status, wall_ns


def _reap(pid: int, start: int) -> tuple[int | None, int]:
    while True:
        try:
            child, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None, 0
        if child == 0:
            return None, 0
        if child == pid:
            return st, time.monotonic_ns() - start


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, _CHUNK)
    except BlockingIOError:
        return None


def _copy_out(master: int, stdout: int) -> bool:
    """Copy what the terminal has; False once no process holds it any more."""
    while True:
        try:
            data = os.read(master, _CHUNK)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno == errno.EIO:
                return False
            raise
        if not data:
            return False
        view = memoryview(data)
        while view:
            view = view[os.write(stdout, view):]


def _drain(fd: int) -> None:
    while _read(fd):
        pass
