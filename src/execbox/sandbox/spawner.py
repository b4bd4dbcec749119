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

import io
import os
import pickle
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import types
from collections.abc import Callable

from execbox.errors import SandboxSetupError
from execbox.sandbox.child import ChildFds, ChildPlan
from execbox.sandbox.child import main as child_main
from execbox.sandbox.namespaces import PidNamespaceForker
from execbox.sandbox.protocol import recv_exact
from execbox.sandbox.template import TemplateBoxes, TemplatePlan

_LEN = struct.Struct("!Q")


class Spawner:
    """Backend side: starts the spawner process and asks it for sandboxes.

    ``python`` is the interpreter the spawner runs on: execbox's own by default; a
    *template* spawner runs the sandbox's interpreter (Debian's /usr/bin/python3) with
    ``preload`` imported, so that an init forked from it can run a program in-process
    (see ``ChildPlan.inprocess``). A template only ever receives plans (no request data:
    code, files and stdin go to each init directly), so no program finds another's data
    in the memory it was forked from.
    """

    def __init__(self, python: str | None = None, preload: tuple[str, ...] = ()) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock = ours
        self._lock = threading.Lock()
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        boot = ("import sys; sys.path.insert(0, sys.argv[2]); "
                "from execbox.sandbox.spawner_main import main; main()")
        # a template keeps the interpreter's default flags (programs see them); execbox's
        # own spawner is isolated (-I). Both start in / with an empty environment.
        flags = [] if python else ["-I"]
        self._proc = subprocess.Popen(
            [python or sys.executable, *flags, "-c", boot, str(theirs.fileno()), src,
             *preload],
            pass_fds=(theirs.fileno(),), env={"LANG": "C.UTF-8"} if python else {}, cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, close_fds=True,
        )
        theirs.close()

    def spawn(self, plan: ChildPlan | TemplatePlan, fds: tuple[int, ...]) -> tuple[int, int]:
        """Fork an init running ``plan`` with the given pipe ends; (pid, pidfd)."""
        payload = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)
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

    def close(self) -> None:
        self._sock.close()  # EOF: the spawner exits
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def serve(sock: socket.socket, modules: dict[str, types.ModuleType] | None = None) -> None:
    """Spawner side: answer requests until the backend closes the socket. ``modules``:
    a template's registry of execbox's modules, which are no longer in sys.modules."""
    forker = PidNamespaceForker()
    templates = TemplateBoxes(modules if modules is not None else sys.modules)
    unpickler = _registry_unpickler(modules) if modules is not None else None
    live: set[int] = set()
    # SIGCHLD wakes the loop through a pipe so an exited init is reaped at once (no zombie
    # outlives its sandbox); reaping happens only here, never between fork and pidfd_open.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        watched = templates.watched()
        ready, _, _ = select.select([sock, wake_r, *watched], [], [], 5)
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 4096):
                        break
                except BlockingIOError:
                    break
        for pid, status, usage in _reap():
            live.discard(pid)
            templates.on_reaped(pid, status, usage)
        for fd in ready:
            if fd in watched:  # a template box's order came: fork its program
                templates.on_order(fd)
        live.update(templates.pids())
        if sock not in ready:
            continue
        try:
            head, fds, _, _ = socket.recv_fds(sock, _LEN.size, 5, socket.MSG_CMSG_CLOEXEC)
        except OSError:
            head = b""
        if not head:  # the backend is gone (closed, or killed): take every sandbox down
            _kill_all(live | set(templates.pids()))
            return
        head += recv_exact(sock, _LEN.size - len(head))
        (size,) = _LEN.unpack(head)
        data = recv_exact(sock, size)
        plan = unpickler(data) if unpickler else pickle.loads(data)  # noqa: S301 - our backend
        if isinstance(plan, TemplatePlan):
            try:
                pid = templates.spawn(plan, fds)  # keeps the descriptors for the program
            except OSError:
                pid = 0
        else:
            assert isinstance(plan, ChildPlan)
            pid = forker.fork()
            if pid == 0:
                sock.close()
                rest = fds[3:]  # a warm box's order pipe, then an interactive run's stdin
                control = rest.pop(0) if plan.order is None and rest else -1
                child_main(plan, ChildFds(stdout=fds[0], stderr=fds[1], status=fds[2],
                                          control=control, stdin=rest[0] if rest else -1))
            for fd in fds:
                os.close(fd)
        if pid == 0:
            sock.sendall(_LEN.pack(0))  # no sandbox: the backend raises
            continue
        live.add(pid)
        pidfd = os.pidfd_open(pid)  # not reaped yet (only _reap does), so it is ours
        try:
            socket.send_fds(sock, [_LEN.pack(pid)], [pidfd])
        finally:
            os.close(pidfd)


def _registry_unpickler(modules: dict[str, types.ModuleType]
                        ) -> Callable[[bytes], object]:
    """pickle.loads that finds execbox's classes in ``modules``, not through imports."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if module in modules:
                return getattr(modules[module], name)
            return super().find_class(module, name)

    return lambda data: Unpickler(io.BytesIO(data)).load()


def _reap() -> list[tuple[int, int, resource.struct_rusage]]:
    reaped: list[tuple[int, int, resource.struct_rusage]] = []
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status, usage))


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
