"""The spawner: a small, clean process that forks every sandbox's init.

Why a separate process: a forked child carries its parent's whole heap until it execs,
and forking costs in proportion to that heap. The server's heap holds its keys, config
and every request in flight, and it has threads; the spawner is started by exec (not
fork) with an empty environment, imports only the sandbox's child side, holds no secret,
stays single-threaded, and forks in about half the time.

Wire protocol over a unix stream socket (the spawner trusts its one peer, the backend
that started it):
    request: 8-byte length + pickled ChildPlan, with 3 or 4 descriptors attached (the
             child's stdout, stderr and status pipe ends, and a warm one's order pipe)
    reply:   8-byte pid of the init, with its pidfd attached (pid reuse cannot fool a pidfd)
The spawner reaps its children itself; the backend watches them through the pidfds. When
the backend goes away (closed or killed: the socket reaches EOF) the spawner kills every
sandbox still running and exits; each init also has PR_SET_PDEATHSIG, so killing the
spawner itself takes the sandboxes down too.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading

from execbox.errors import SandboxSetupError
from execbox.sandbox.child import ChildFds, ChildPlan
from execbox.sandbox.wire import drain, recv_exact

_LEN = struct.Struct("!Q")


class Spawner:
    """Backend side: starts the spawner process and asks it for sandboxes.

    By default the spawner is execbox's own (``serve`` below: it forks a Python init per
    sandbox). ``template`` is instead the argv of a *template* spawner
    (``template.command``: the sandbox's interpreter with a zygote loaded), whose plans
    are bytes (``template.encode_plan``). A template only ever receives plans (no request
    data: code, files and stdin go to each sandbox directly), so no program finds
    another's data in the memory it was forked from.
    """

    def __init__(self, template: list[str] | None = None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock = ours
        self._lock = threading.Lock()
        fd = str(theirs.fileno())
        if template is None:
            src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            boot = ("import sys; sys.path.insert(0, sys.argv[2]); "
                    "from execbox.sandbox.spawner_main import main; main()")
            argv = [sys.executable, "-I", "-c", boot, fd, src]
        else:  # the interpreter's default flags (programs see them), its usual LANG
            argv = [fd if arg == "{fd}" else arg for arg in template]
        self._proc = subprocess.Popen(
            argv, pass_fds=(theirs.fileno(),), env={"LANG": "C.UTF-8"} if template else {},
            cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True,
        )
        theirs.close()

    def spawn(self, plan: ChildPlan | bytes, fds: tuple[int, ...]) -> tuple[int, int]:
        """Start an init running ``plan`` with the given pipe ends; (pid, pidfd)."""
        payload = plan if isinstance(plan, bytes) else pickle.dumps(
            plan, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            try:
                socket.send_fds(self._sock, [_LEN.pack(len(payload))], list(fds))
                self._sock.sendall(payload)
                data, pidfds, _, _ = socket.recv_fds(self._sock, _LEN.size, 1,
                                                     socket.MSG_CMSG_CLOEXEC)
                data += recv_exact(self._sock, _LEN.size - len(data))
            except OSError as exc:
                raise SandboxSetupError(f"the spawner process is gone: {exc}") from exc
        (pid,) = _LEN.unpack(data)
        if not pidfds or pid == 0:
            for fd in pidfds:
                os.close(fd)
            raise SandboxSetupError("the spawner could not fork a sandbox")
        return pid, pidfds[0]

    def alive(self) -> bool:
        return self._proc.poll() is None

    def notify(self, message: bytes) -> None:
        """A message that needs no answer (a template spawner's ``template.encode_arm``)."""
        with self._lock:
            try:
                self._sock.sendall(_LEN.pack(len(message)) + message)
            except OSError as exc:
                raise SandboxSetupError(f"the spawner process is gone: {exc}") from exc

    def close(self) -> None:
        self._sock.close()  # EOF: the spawner exits
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def serve(sock: socket.socket) -> None:
    """Spawner side: answer requests until the backend closes the socket."""
    from execbox.sandbox import child
    from execbox.sandbox.namespaces import PidNamespaceForker

    forker = PidNamespaceForker()
    live: set[int] = set()
    # SIGCHLD wakes the loop through a pipe so an exited init is reaped at once (no zombie
    # outlives its sandbox); reaping happens only here, never between fork and pidfd_open.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [], 5)
        if wake_r in ready:
            drain(wake_r)
        live -= _reap()
        if sock not in ready:
            continue
        try:
            head, fds, _, _ = socket.recv_fds(sock, _LEN.size, 5, socket.MSG_CMSG_CLOEXEC)
        except OSError:
            head = b""
        if not head:  # the backend is gone (closed, or killed): take every sandbox down
            _kill_all(live)
            return
        head += recv_exact(sock, _LEN.size - len(head))
        (size,) = _LEN.unpack(head)
        plan = pickle.loads(recv_exact(sock, size))  # noqa: S301 - our own backend
        pid = forker.fork()
        if pid == 0:
            sock.close()
            rest = fds[3:]  # a warm box's order pipe, then an interactive run's stdin
            control = rest.pop(0) if plan.order is None and rest else -1
            child.main(plan, ChildFds(stdout=fds[0], stderr=fds[1], status=fds[2],
                                      control=control, stdin=rest[0] if rest else -1))
        live.add(pid)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)  # not reaped yet (only _reap does), so it is ours
        try:
            socket.send_fds(sock, [_LEN.pack(pid)], [pidfd])
        finally:
            os.close(pidfd)


def _reap() -> set[int]:
    reaped: set[int] = set()
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.add(pid)


def _kill_all(live: set[int]) -> None:
    """SIGKILL every init still alive (each takes its whole pid namespace with it)."""
    for pid in live:
        try:
            os.kill(pid, signal.SIGKILL)  # not reaped yet, so the pid is still that init
        except ProcessLookupError:
            pass
    for pid in live:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
