"""The template spawner's two helper processes, and descriptor passing without the socket
module (template.py says why it imports so little).

``Forker``: execbox's C init in its --forker mode, which forks each sandbox's init as a
child of the spawner. ``ProgramForks``: a fork of the spawner, made before it serves
anything, that forks each sandbox's program in a C loop (``execbox_fork_loop``). Both are
started again if they die. Standard library only, as template.py.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal without its enums
import _socket
import array
import ctypes
import os
import struct

TYPE_CHECKING = False  # not typing's (see template.py)
if TYPE_CHECKING:
    from collections.abc import Callable

    RunProgram = Callable[[int, int, int], None]  # (status, control, report): never returns

_PID = struct.Struct("=i")  # the forker's answer: an init's pid, or -errno


class _Helper:
    """A helper process of the spawner, reached on a socket: let go by closing it (the
    helper exits when its socket closes; the spawner reaps it), started again on demand."""

    def __init__(self) -> None:
        self.pid = 0
        self._sock: _socket.socket | None = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def lost(self, pid: int) -> bool:
        """``pid`` (reaped by the spawner) was this helper: the next request starts
        another."""
        if pid != self.pid or not pid:
            return False
        self.close()
        self.pid = 0
        return True


class Forker(_Helper):
    """The C init in its --forker mode (execbox_init.c): started once, it forks every init
    of this spawner as this spawner's child (an exec per sandbox cost the machine more:
    CPUID traps at every glibc start on a VM). Started again if it died."""

    def __init__(self) -> None:
        super().__init__()
        self.binary = ""

    def fork_init(self, binary: str, fds: list[int]) -> int:
        """An init's pid (fds: status, plan, report[, net]), or 0 if none could be forked."""
        for _ in range(2):  # the forker may have died since: once more with a new one
            if self._sock is None or binary != self.binary:
                self._start(binary)
            assert self._sock is not None
            try:
                send_fds(self._sock, b"\1" if len(fds) == 4 else b"\0", fds)
                answer = self._sock.recv(4)
            except OSError:
                answer = b""
            if len(answer) == 4:
                pid: int = _PID.unpack(answer)[0]
                return max(pid, 0)
            self.close()
        return 0

    def _start(self, binary: str) -> None:
        self.close()
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            self.pid = os.posix_spawn(binary, [binary, "--forker"], {},
                                      file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)],
                                      setsigmask=(), setsigdef=_signal.valid_signals())
        finally:
            theirs.close()
        self.binary = binary
        self._sock = ours


class ProgramForks(_Helper):
    """The program fork server: a fork of the spawner that loops in C and forks each
    program (``execbox_fork_loop``). Every fork write-protects the pages of the process
    that forks; forked by the spawner itself, whose Python loop then writes to hundreds of
    pages before the next fork, each of those writes was a copy-on-write fault (a twelfth
    of the machine's time in a sustained run). The server writes to almost none. It is
    forked when the spawner holds nothing of any request (it never does), and again if it
    died; a program it forks returns into ``run_program`` in the server's process, never
    into the spawner's loop."""

    def __init__(self, fork_loop: Callable[..., int], run_program: RunProgram) -> None:
        super().__init__()
        self._fork_loop = fork_loop
        self._run_program = run_program

    def fork(self, plan: bytes, fds: list[int]) -> bool:
        """Ask for a program (fds: init_pidfd, stdout, stderr, status, control, report).
        False if the server could not be reached, even once started again."""
        for _ in range(2):
            if self._sock is None:
                self.start()
            assert self._sock is not None
            try:
                send_fds(self._sock, plan, fds)
                return True
            except OSError:
                self.close()
        return False

    def start(self) -> None:
        self.close()
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the server
            try:
                _signal.set_wakeup_fd(-1)
                _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
                keep = theirs.fileno()
                os.closerange(3, keep)  # the spawner's socket and pipes are not its own
                os.closerange(keep + 1, 1 << 20)
                out = (ctypes.c_int * 3)()
                if self._fork_loop(keep, out) == 0:  # a program, in its sandbox
                    self._run_program(out[0], out[1], out[2])
            finally:
                os._exit(0)
        theirs.close()
        self.pid = pid
        self._sock = ours


def recv_fds(sock: _socket.socket, size: int, most: int) -> tuple[bytes, list[int]]:
    """socket.recv_fds, without the socket module (its enums cost every fork pages)."""
    data, ancillary, _, _ = sock.recvmsg(size, _socket.CMSG_LEN(most * 4),
                                         _socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def send_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], ancillary)
