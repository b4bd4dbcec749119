"""The caller's handle on an interactive run: stdin in, output out, signals, while it runs.

The supervisor thread owns every descriptor of the sandbox; a caller on another thread
(an API's event loop) only queues operations here and wakes the supervisor through a pipe.
Output goes the other way through ``on_output``, called on the supervisor's thread with
each chunk as it arrives (``"stdout"`` or ``"stderr"``, bytes); it must not block long.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from execbox.errors import ConfigError

MAX_PENDING_STDIN = 4 * 1024 * 1024  # queued for a program that does not read: refused


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # "stdin" | "eof" | "signal" | "kill"
    data: bytes = b""
    signal: int = 0


class Interaction:
    def __init__(self, on_output: Callable[[str, bytes], None],
                 on_started: Callable[[], None] | None = None) -> None:
        self.on_output = on_output
        self.on_started = on_started
        self._ops: list[Op] = []
        self._pending_stdin = 0
        self._lock = threading.Lock()
        self.wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._closed = False
        # closed by close(), or when the object goes (a run that never started)
        self._release = weakref.finalize(self, _close_all, self.wake_r, self._wake_w)

    def write(self, data: bytes) -> None:
        """Queue bytes for the program's stdin (ConfigError past MAX_PENDING_STDIN unread)."""
        with self._lock:
            if self._pending_stdin + len(data) > MAX_PENDING_STDIN:
                raise ConfigError(f"more than {MAX_PENDING_STDIN} bytes of stdin are waiting "
                                  "for the program to read them")
            self._pending_stdin += len(data)
        self._push(Op("stdin", data))

    def close_stdin(self) -> None:
        """End of input: the program reads EOF once it has read what was queued."""
        self._push(Op("eof"))

    def signal(self, signum: int) -> None:
        """Send a signal to the program (not SIGKILL/SIGSTOP to the sandbox: see kill)."""
        if signum not in signal.valid_signals():
            raise ConfigError(f"no such signal: {signum}")
        self._push(Op("signal", signal=signum))

    def kill(self) -> None:
        """End the run now (the client went away or sat idle too long)."""
        self._push(Op("kill"))

    def _push(self, op: Op) -> None:
        with self._lock:
            if self._closed:
                return
            self._ops.append(op)
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:  # already woken, and not read yet
                pass

    def take(self) -> list[Op]:
        """Supervisor side: everything queued since the last call."""
        while True:
            try:
                if not os.read(self.wake_r, 4096):
                    break
            except BlockingIOError:
                break
        with self._lock:
            ops, self._ops = self._ops, []
        return ops

    def consumed(self, count: int) -> None:
        """Supervisor side: ``count`` queued stdin bytes reached the program (or were
        dropped because it closed its stdin)."""
        with self._lock:
            self._pending_stdin -= count

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()


def _close_all(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
