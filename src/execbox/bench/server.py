"""A live HTTP service for the benchmark: ``execbox serve`` itself, in its own process on
loopback, and the level that sends it hello worlds (``POST /v1/execute``).

The server gets a config file (``execbox serve --config``) with the pool settings of the
benchmark's in-process runner, so that the two compare, and a state dir, uid range and
cgroup parent of its own: it never shares slots, cgroups or its run store with an execbox
that may already be serving on this host.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from execbox.bench.errors import BenchError
from execbox.bench.http_client import ConnectionClosed, KeepAlive
from execbox.bench.levels import Level
from execbox.bench.programs import Program
from execbox.pool import PoolSettings

UID_BASE = 950_000  # away from execbox's default range (900000 + 256 slots)
CGROUP_PARENT = "execbox-bench-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_config(port: int, languages: tuple[str, ...], pool: PoolSettings) -> str:
    """The TOML of ``execbox serve --config`` for the benchmark's server."""
    return "\n".join([
        'host = "127.0.0.1"', f"port = {port}", "queue = 256",
        f"warm_languages = {json.dumps(list(languages))}",
        "[pool]", f"min_warm = {pool.min_warm}", f"max_size = {pool.max_size}",
        f"max_uses = {pool.max_uses}",
        "[sandbox]", f"uid_base = {UID_BASE}", "slots = 128",
        f"cgroup_parent = {json.dumps(CGROUP_PARENT)}", ""])


class ServerProcess:
    """``execbox serve`` in a child process; ``close`` stops it (SIGTERM: graceful)."""

    def __init__(self, state_dir: str, languages: tuple[str, ...], pool: PoolSettings,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.min_warm = pool.min_warm
        os.makedirs(state_dir, mode=0o755, exist_ok=True)
        config = os.path.join(state_dir, "serve.toml")
        with open(config, "w") as f:
            f.write(serve_config(self.port, languages, pool))
        self.argv = [sys.executable, "-m", "execbox", "--state-dir", state_dir, "serve",
                     "--config", config]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the server's life
        self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=self._log)

    def _log_tail(self) -> str:
        self._log.seek(0)
        return self._log.read()[-2000:].decode(errors="replace")

    def get(self, path: str) -> tuple[int, bytes]:
        conn = KeepAlive("127.0.0.1", self.port, timeout_s=10)
        try:
            return conn.request("GET", path)
        finally:
            conn.close()

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BenchError(f"the HTTP server exited ({self._proc.returncode}): "
                                 f"{self._log_tail()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"the HTTP server was not ready in {timeout_s:g} s: {self._log_tail()}")

    def settled(self) -> bool:
        """Nothing building in its pool and every flavor at its minimum (from /metrics)."""
        _, text = self.get("/metrics")
        return pool_settled(text.decode(), self.min_warm)

    def wait_settled(self, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.settled() and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


def pool_settled(metrics: str, min_warm: int) -> bool:
    """From Prometheus text: no ``execbox_pool_sandboxes`` is building and every flavor
    has at least ``min_warm`` warm."""
    warm: dict[str, float] = {}
    for line in metrics.splitlines():
        if not line.startswith("execbox_pool_sandboxes{"):
            continue
        labels, _, value = line.partition("} ")
        fields = dict(part.split("=", 1) for part in labels[len("execbox_pool_sandboxes{"):]
                      .split(","))
        flavor = fields.get("flavor", "").strip('"')
        state = fields.get("state", "").strip('"')
        amount = float(value)
        if state == "building" and amount > 0:
            return False
        if state == "warm":
            warm[flavor] = amount
    return all(v >= min_warm for v in warm.values())


class Http(Level):
    """Hello world through ``POST /v1/execute`` of the live server, one keep-alive
    connection per client lane (``http_client.KeepAlive``: no client library's parsing
    on the clock).

    A connection idle for longer than ``IDLE_S`` is replaced before it is used (uvicorn
    closes idle keep-alive connections after 5 s), and a request that finds its reused
    connection closed before any answer came is sent again once on a new one, as HTTP
    clients do; the reconnection is then on the clock."""

    name = "http"
    label = "HTTP API, POST /v1/execute (warm pool)"
    IDLE_S = 2.0

    def __init__(self, server: ServerProcess) -> None:
        self._server = server
        self._conns: dict[int, tuple[KeepAlive, float]] = {}
        self._lock = threading.Lock()
        self._dirty = True
        self._bodies: dict[tuple[str, bytes], bytes] = {}

    def _conn(self, lane: int, fresh: bool = False) -> KeepAlive:
        now = time.monotonic()
        with self._lock:
            conn, used = self._conns.get(lane, (None, 0.0))
            if conn is not None and (fresh or now - used > self.IDLE_S):
                conn.close()
                conn = None
            if conn is None:
                conn = KeepAlive("127.0.0.1", self._server.port, timeout_s=120)
            self._conns[lane] = (conn, now)
            return conn

    def settle(self) -> None:
        if self._dirty:  # the server's pool refills after each run: wait for it
            self._server.wait_settled()
            self._dirty = False

    def _post(self, lane: int, body: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._conn(lane, fresh=attempt == 2)
            reused = conn.connected
            try:
                status, data = conn.request("POST", "/v1/execute", body)
            except (BrokenPipeError, ConnectionResetError, ConnectionClosed):
                conn.close()
                if reused and attempt == 1:
                    continue  # the server had closed it: nothing was processed
                raise
            except OSError:
                conn.close()
                raise
            with self._lock:
                self._conns[lane] = (conn, time.monotonic())
            return status, data
        raise AssertionError("unreachable")

    def floor_ms(self, count: int = 50) -> float:
        """Median ms of ``GET /healthz`` on a kept-alive connection: what any request
        through uvicorn and the app's middleware costs here, before a run is involved."""
        conn = KeepAlive("127.0.0.1", self._server.port, timeout_s=30)
        samples = []
        try:
            for _ in range(count + 3):
                t0 = time.perf_counter()
                conn.request("GET", "/healthz")
                samples.append((time.perf_counter() - t0) * 1000)
        finally:
            conn.close()
        return statistics.median(samples[3:])

    def run(self, program: Program, lane: int) -> str | None:
        self._dirty = True
        status, data = self._post(lane, self._body(program))
        if status != 200:
            raise BenchError(f"HTTP {status}: {data[:300]!r}")
        answer = json.loads(data)
        run = answer.get("run") or {}
        if answer.get("status") != "ok":
            raise BenchError(f"HTTP answer: {data[:300]!r}")
        return program.check(run.get("exit_code"), str(run.get("stdout", "")).encode(),
                             str(run.get("stderr", "")).encode())

    def _body(self, program: Program) -> bytes:
        """The request of ``program``, built once: a client sending the same request
        again does not build it again (~0.02 ms of the client's Python, cold)."""
        key = (program.language, program.source.content)
        body = self._bodies.get(key)
        if body is None:
            body = json.dumps({"language": program.language,
                               "code": program.source.content.decode()}).encode()
            self._bodies[key] = body
        return body

    def close(self) -> None:
        with self._lock:
            for conn, _used in self._conns.values():
                conn.close()
            self._conns.clear()
