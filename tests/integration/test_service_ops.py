"""Operations over real HTTP: CORS, per-key rate and concurrency limits (429, and 503 on
the Judge0 routes), Judge0's X-Auth-Token / X-Auth-User, a client that goes away, and a
graceful shutdown of a real `execbox serve` process on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import httpx
import pytest

from conftest import free_port, live_server
from execbox.service import ServiceSettings

pytestmark = pytest.mark.root

ORIGIN = "https://ui.example"


def _wait(predicate, timeout: float = 20.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what}: not met within {timeout} s")


def _load(client: httpx.Client) -> dict:
    return client.get("/readyz").json()  # open route: running and queued counts


def _metric(client: httpx.Client, line_start: str, key: str) -> float:
    text = client.get("/metrics", headers={"X-Api-Key": key}).text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """Keys k1 and k2, one request in progress per key, one run at once, CORS for ORIGIN,
    a Judge0 X-Auth-User token, its own runs database."""
    settings = ServiceSettings(
        concurrency=1, queue=4, warm_languages=(), api_keys=("k1", "k2"),
        judge0_auth_user_tokens=("admin",), cors_origins=(ORIGIN,), key_concurrency=1,
        runs_db=str(tmp_path_factory.mktemp("guarded") / "runs.sqlite"))
    with live_server(settings) as client:
        yield client


def test_cors_preflights_and_answers(guarded):
    r = guarded.options("/v1/execute", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 200, r.text  # no key needed for a preflight
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert "POST" in r.headers["access-control-allow-methods"]
    r = guarded.options("/v1/execute", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = guarded.get("/v1/languages", headers={"Origin": ORIGIN, "X-Api-Key": "k1"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
    # errors too, so that a page can read them (and Retry-After)
    r = guarded.get("/v1/languages", headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
    assert "retry-after" in r.headers["access-control-expose-headers"].lower()
    # POST /v1/execute's fast lane: a refused client's body is not looked at; a body the
    # lane leaves to the app keeps its one admission (key_concurrency is 1 here: a second
    # one would be refused 429)
    r = guarded.post("/v1/execute", content=b'{"language": "nope", "code": "1"}')
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    r = guarded.post("/v1/execute", headers={"X-Api-Key": "k1"},
                     content=b'{"language": "nope", "code": "1"}')
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_language", r.text
    # a run from a page: POST /v1/execute (which the fast lane leaves to the app with CORS)
    r = guarded.post("/v1/execute", headers={"Origin": ORIGIN, "X-Api-Key": "k1"},
                     json={"language": "python", "code": "print(2)"})
    assert r.status_code == 200 and r.json()["run"]["stdout"] == "2\n", r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN


def test_judge0_authentication_and_authorization(guarded):
    # X-Auth-Token (AUTHN): every route; in the header, or on Judge0's routes as a parameter
    r = guarded.post("/authenticate")
    assert r.status_code == 401 and r.content == b""  # as Judge0: an empty body
    assert guarded.post("/authenticate", headers={"X-Auth-Token": "k1"}).status_code == 200
    assert guarded.post("/authenticate", params={"X-Auth-Token": "k2"}).status_code == 200
    assert guarded.get("/v1/languages", params={"X-Auth-Token": "k1"}).status_code == 401
    # X-Auth-User (AUTHZ): the privileged routes only, on top of X-Auth-Token
    token = {"X-Auth-Token": "k1"}
    admin = {**token, "X-Auth-User": "admin"}
    r = guarded.post("/authorize", headers=token)
    assert r.status_code == 403 and r.content == b""
    assert guarded.post("/authorize", headers={**token, "X-Auth-User": "nope"}).status_code \
        == 403
    assert guarded.post("/authorize", headers={"X-Auth-User": "admin"}).status_code == 401
    assert guarded.post("/authorize", headers=admin).status_code == 200
    assert guarded.post("/authorize", headers=token,
                        params={"X-Auth-User": "admin"}).status_code == 200

    created = guarded.post("/submissions", params={"wait": "true"}, headers=token,
                           json={"language_id": 71, "source_code": "print('listed')"})
    assert created.status_code == 201, created.text
    sub = created.json()["token"]
    assert guarded.get(f"/submissions/{sub}", headers=token).status_code == 200  # not privileged
    assert guarded.get("/submissions", headers=token).status_code == 403
    listed = guarded.get("/submissions", headers=admin, params={"per_page": 5})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert sub in [s["token"] for s in body["submissions"]]
    mine = next(s for s in body["submissions"] if s["token"] == sub)
    assert mine["stdout"] == "listed\n" and mine["status"]["id"] == 3
    assert body["meta"]["current_page"] == 1 and body["meta"]["total_count"] >= 1
    assert body["meta"]["prev_page"] is None
    assert guarded.get("/submissions", headers=admin, params={"page": 0}).status_code == 400
    assert guarded.delete(f"/submissions/{sub}", headers=token).status_code == 403
    r = guarded.delete(f"/submissions/{sub}", headers=admin)
    assert r.status_code == 400 and r.json() == {"error": "delete not allowed"}


def test_a_busy_key_is_refused_and_a_departed_client_leaves_the_queue(guarded):
    port = guarded.base_url.port
    gone_before = _metric(guarded, 'execbox_rejected_total{reason="client_gone"}', "k2")
    slow: dict = {}

    def run_slow() -> None:
        with httpx.Client(base_url=str(guarded.base_url), timeout=60) as c:
            slow["r"] = c.post("/v1/execute", headers={"X-Api-Key": "k1"}, json={
                "language": "python", "code": "import time; time.sleep(4); print('slow')"})

    thread = threading.Thread(target=run_slow)
    thread.start()
    try:
        _wait(lambda: _load(guarded)["running"] == 1, what="the slow run started")
        # k1 has its one request in progress: refused, 429 (503 on Judge0's routes)
        r = guarded.get("/v1/languages", headers={"X-Api-Key": "k1"})
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "key_concurrency"
        r = guarded.get("/statuses", headers={"X-Auth-Token": "k1"})
        assert r.status_code == 503 and r.headers["retry-after"] and "error" in r.json()
        r = guarded.post("/api/v2/execute", headers={"X-Api-Key": "k1"},
                         json={"language": "python", "files": "print(1)"})
        assert r.status_code == 429 and "message" in r.json()
        assert guarded.get("/v1/languages", headers={"X-Api-Key": "k2"}).status_code == 200

        # k2 queues a run behind the slow one, then hangs up: it leaves the queue
        body = json.dumps({"language": "c", "code": "int main(void){return 0;}"}).encode()
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall(b"POST /v1/execute HTTP/1.1\r\nHost: test\r\nX-Api-Key: k2\r\n"
                     b"Content-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        _wait(lambda: _load(guarded)["queued"] == 1, what="the second run queued")
        raw.close()
        _wait(lambda: _load(guarded)["queued"] == 0, what="the departed client's run left")
        assert _load(guarded)["running"] == 1  # the slow run is still going
    finally:
        thread.join(60)
    assert slow["r"].status_code == 200 and slow["r"].json()["run"]["stdout"] == "slow\n"
    assert _metric(guarded, 'execbox_rejected_total{reason="client_gone"}', "k2") \
        == gone_before + 1
    assert 'execbox_runs_total{language="c"' not in \
        guarded.get("/metrics", headers={"X-Api-Key": "k2"}).text  # it never ran
    assert guarded.get("/v1/languages", headers={"X-Api-Key": "k1"}).status_code == 200


def test_rate_limits_per_key_429_and_503_on_judge0(tmp_path):
    settings = ServiceSettings(warm_languages=(), api_keys=("r1", "r2"), rate_limit=0.05,
                               rate_burst=2, runs_db=str(tmp_path / "runs.sqlite"))
    with live_server(settings) as c:
        one = {"X-Api-Key": "r1"}
        assert [c.get("/v1/languages", headers=one).status_code for _ in range(2)] == [200, 200]
        r = c.get("/v1/languages", headers=one)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 20  # one request per 20 s
        r = c.get("/languages", headers={"X-Auth-Token": "r1"})
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1  # never 429 here
        assert "error" in r.json()
        r = c.get("/api/v2/runtimes", headers=one)
        assert r.status_code == 429 and "message" in r.json()
        assert c.get("/healthz").status_code == 200  # health is never limited
        two = {"X-Api-Key": "r2"}
        assert c.get("/v1/languages", headers=two).status_code == 200  # its own bucket
        assert _metric(c, 'execbox_rejected_total{reason="rate_limited"}', "r2") == 3
        # no X-Auth-User tokens configured: Judge0's privileged routes are always 403
        r = c.post("/authorize", headers={"X-Auth-Token": "r2", "X-Auth-User": "anyone"})
        assert r.status_code == 403
        # no CORS configured: no CORS headers
        r = c.options("/v1/execute", headers={"Origin": ORIGIN,
                                              "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers


# --- graceful shutdown of a real `execbox serve` ------------------------------------------

UID_BASE = 500_000 + (os.getpid() % 1000) * 100  # this test's server's sandboxes only
SLOTS = 64


def _starttime(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _sandbox_processes() -> dict[int, str]:
    """Live processes running as one of this test server's sandbox uids: pid -> start."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if UID_BASE <= uid < UID_BASE + SLOTS:
            start = _starttime(int(entry))
            if start is not None:
                found[int(entry)] = start
    return found


def _box_cgroup_parents(pids, parent: str) -> set[str]:
    """The directories of the cgroup parent of these sandbox processes, per hierarchy."""
    dirs = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if f"/{parent}/box-" not in path:
                continue
            mount = "/sys/fs/cgroup" + (f"/{controllers.split(',')[0]}" if controllers else "")
            if not os.path.isdir(mount) and controllers:
                mount = f"/sys/fs/cgroup/{controllers}"
            dirs.add(mount + path[:path.index(f"/{parent}/") + len(parent) + 1])
    return {d for d in dirs if os.path.isdir(d)}


def test_sigterm_finishes_or_fails_work_clearly_and_tears_everything_down(tmp_path):
    port = free_port()
    parent = f"execbox-ops-test-{os.getpid()}"
    runs_db = tmp_path / "runs.sqlite"
    config = tmp_path / "execbox.toml"
    config.write_text(f"""
port = {port}
concurrency = 2
queue = 4
shutdown_grace_s = 3
warm_languages = ["python"]
runs_db = "{runs_db}"

[pool]
min_warm = 1
max_size = 3

[sandbox]
uid_base = {UID_BASE}
slots = {SLOTS}
cgroup_parent = "{parent}"
""")
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "execbox", "serve", "--config",
                                   str(config)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    answers: dict[str, httpx.Response] = {}

    def request(name: str, code: str, limits: dict | None = None) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            # one comes through a proxy on loopback (trusted by default): its access line
            # names the proxy's client
            headers = {"X-Forwarded-For": "203.0.113.7"} if name == "finishes" else {}
            answers[name] = c.post("/v1/execute", headers=headers, json={
                "language": "python", "code": code, **({"limits": limits} if limits else {})})

    threads = []
    try:
        with httpx.Client(base_url=base, timeout=10) as c:
            def ready():
                try:
                    return c.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return server.poll() is not None  # died: stop waiting, fail below

            _wait(ready, timeout=60, what="the server is ready")
            assert server.poll() is None, log_path.read_text()
            for name, code, limits in (
                    ("finishes", "import time; time.sleep(1); print('finished')", None),
                    ("too_long", "import time; time.sleep(60)", {"wall_time_ms": 6000})):
                threads.append(threading.Thread(target=request, args=(name, code, limits)))
                threads[-1].start()
            _wait(lambda: c.get("/readyz").json()["running"] == 2, what="two runs running")
            queued_async = c.post("/v1/runs", json={"language": "python",
                                                    "code": "print('after the restart')"})
            assert queued_async.status_code == 202
            run_id = queued_async.json()["id"]
            threads.append(threading.Thread(target=request, args=("queued", "print(1)")))
            threads[-1].start()
            _wait(lambda: c.get("/readyz").json()["queued"] == 2, what="two runs queued")

        boxes = _sandbox_processes()
        assert boxes, "the server's sandboxes (warm and running) are visible"
        cgroup_parents = _box_cgroup_parents(boxes, parent)
        assert cgroup_parents, "their cgroups are visible"

        server.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        assert server.wait(60) == 0, log_path.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    # work in progress within the grace finished; the rest was answered clearly
    finished = answers["finishes"]
    assert finished.status_code == 200 and finished.json()["run"]["stdout"] == "finished\n"
    assert "server" not in finished.headers and finished.headers["date"]  # no uvicorn banner
    for name, says in (("too_long", "before this run finished"), ("queued", "not started")):
        r = answers[name]
        assert r.status_code == 503 and r.headers["retry-after"], (name, r.text)
        assert r.json()["error"]["code"] == "shutting_down" and says in r.json()["error"][
            "message"]

    # every sandbox torn down: no process, no cgroup left
    assert not {pid for pid, start in boxes.items() if _starttime(pid) == start}
    assert not _sandbox_processes()
    for directory in cgroup_parents:
        assert not [d for d in os.listdir(directory) if d.startswith("box-")], directory
        os.rmdir(directory)

    # the async run that never started is queued in SQLite, and runs at the next start
    with closing(sqlite3.connect(runs_db)) as db:
        assert db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone() == \
            ("queued",)
    logged = [json.loads(line) for line in log_path.read_text().splitlines()
              if line.startswith("{")]
    assert any(e["msg"] == "shutting down" and e["running"] == 2 for e in logged)
    assert any(e["msg"] == "shut down" and e["requeued_runs"] == 1 for e in logged)
    # one access line per answered request, written by the app once the answer was out
    answered = [e for e in logged if e["logger"] == "execbox.access"]
    assert any(e["status"] == 200 and e["path"] == "/v1/execute" and e["ms"] > 0
               and '"POST /v1/execute HTTP/1.1" 200' in e["msg"] for e in answered), answered
    assert any(e["status"] == 503 for e in answered)
    assert any(e["status"] == 200 and e["msg"].startswith("203.0.113.7:0 - ")
               for e in answered), answered
    assert any(e["msg"].startswith("127.0.0.1:") for e in answered), answered
    assert not [e for e in logged if e["logger"] == "uvicorn.access"]
    with live_server(ServiceSettings(warm_languages=(), runs_db=str(runs_db))) as c:
        def done():
            answer = c.get(f"/v1/runs/{run_id}").json()
            return answer if answer["state"] == "done" else None

        answer = _wait(done, what="the requeued run ran")
    assert answer["run"]["stdout"] == "after the restart\n"
