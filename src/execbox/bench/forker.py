"""The helper process that forks the layer ladder's children.

Why a helper: forking costs in proportion to the parent's heap, and the benchmark's own
process holds pools, threads and results; execbox forks its sandboxes from a small clean
spawner for the same reason. A helper is started by exec (``python -I``, empty
environment), imports only the ladder's child side, stays single-threaded, and serves
one client (a benchmark thread) at a time: request in, fork, wait, answer out.

Wire protocol over a unix stream socket: 8-byte length + pickled ``LadderPlan``; answer
8-byte length + pickled ``(exit_code, stdout, stderr)`` (exit code negative for a
signal, as subprocess reports it) or ``(None, b"", message)`` when the fork failed.
"""

from __future__ import annotations

import os
import pickle
import select
import socket
import struct
import subprocess
import sys
import threading

from execbox.bench.errors import BenchError
from execbox.bench.ladder import LadderPlan, child_main
from execbox.sandbox.namespaces import PidNamespaceForker
from execbox.sandbox.wire import recv_exact

_LEN = struct.Struct("!Q")
_MAX_OUTPUT = 1 << 20


class Helper:
    """One helper process (client side)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock = ours
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        boot = ("import sys; sys.path.insert(0, sys.argv[2]); "
                "from execbox.bench.forker import main; main()")
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", boot, str(theirs.fileno()), src],
            pass_fds=(theirs.fileno(),), env={}, cwd="/", stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, close_fds=True)
        theirs.close()

    def run(self, plan: LadderPlan) -> tuple[int, bytes, bytes]:
        payload = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._sock.sendall(_LEN.pack(len(payload)) + payload)
            (size,) = _LEN.unpack(recv_exact(self._sock, _LEN.size))
            code, out, err = pickle.loads(recv_exact(self._sock, size))  # noqa: S301 - ours
        except OSError as exc:
            raise BenchError(f"the ladder helper process is gone: {exc}") from exc
        if code is None:
            raise BenchError(f"the ladder helper could not fork: {err!r}")
        return int(code), bytes(out), bytes(err)

    def close(self) -> None:
        self._sock.close()  # EOF: the helper exits
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class Helpers:
    """One helper per client lane, started on first use (or ahead with ``ensure``)."""

    def __init__(self) -> None:
        self._helpers: dict[int, Helper] = {}
        self._lock = threading.Lock()

    def get(self, lane: int) -> Helper:
        with self._lock:
            helper = self._helpers.get(lane)
            if helper is None:
                helper = self._helpers[lane] = Helper()
            return helper

    def ensure(self, lanes: int) -> None:
        for lane in range(lanes):
            self.get(lane)

    def close(self) -> None:
        with self._lock:
            helpers, self._helpers = list(self._helpers.values()), {}
        for helper in helpers:
            helper.close()


def _drain(out_r: int, err_r: int) -> tuple[bytes, bytes]:
    """Both pipes to EOF (output beyond 1 MiB is dropped)."""
    buffers = {out_r: bytearray(), err_r: bytearray()}
    open_fds = [out_r, err_r]
    while open_fds:
        ready, _, _ = select.select(open_fds, [], [])
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.remove(fd)
            elif len(buffers[fd]) < _MAX_OUTPUT:
                buffers[fd] += chunk
    return bytes(buffers[out_r]), bytes(buffers[err_r])


def _fork_and_wait(forker: PidNamespaceForker, plan: LadderPlan, devnull: int,
                   ) -> tuple[int | None, bytes, bytes]:
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            pid = forker.fork() if plan.layers.namespaces else os.fork()
        except OSError as exc:
            return None, b"", str(exc).encode()
        if pid == 0:
            child_main(plan, (devnull, out_w, err_w))
        os.close(out_w)
        os.close(err_w)
        out_w = err_w = -1
        out, err = _drain(out_r, err_r)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out, err
    finally:
        for fd in (out_r, out_w, err_r, err_w):
            if fd >= 0:
                os.close(fd)


def serve(sock: socket.socket) -> None:
    """Helper side: one request at a time until the client closes the socket."""
    forker = PidNamespaceForker()
    devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    while True:
        try:
            head = recv_exact(sock, _LEN.size)
        except OSError:
            return
        (size,) = _LEN.unpack(head)
        plan: LadderPlan = pickle.loads(recv_exact(sock, size))  # noqa: S301 - our client
        answer = _fork_and_wait(forker, plan, devnull)
        payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            sock.sendall(_LEN.pack(len(payload)) + payload)
        except OSError:
            return


def main() -> None:
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
