"""The native API over real HTTP (httpx against a live uvicorn on loopback)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import pytest

from conftest import live_server
from execbox.service import ServiceSettings

pytestmark = pytest.mark.root


def test_the_articles_curl(server):
    # the seed article's request, byte for byte: content-type without a space
    r = server.post("/execute", content=b'{"language":"python","code":"print(\\"hello world\\")"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok" and body["run"]["stdout"] == "hello world\n"
    assert body["language"] == "python" and body["version"].startswith("3.")
    assert body["compile"] is None and body["tests"] is None and body["id"]


def test_compiled_language_with_files_and_stdin(server):
    code = '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}'
    r = server.post("/v1/execute", json={
        "language": "c", "stdin": "2 3",
        "files": [{"name": "sum.c", "content": base64.b64encode(code.encode()).decode(),
                   "encoding": "base64"}]})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok", body
    assert body["compile"]["status"] == "ok" and body["run"]["stdout"] == "5\n"


def test_program_failures_are_results_not_errors(server):
    r = server.post("/v1/execute", json={"language": "python", "code": "while True: pass",
                                         "limits": {"cpu_time_ms": 300}})
    assert r.status_code == 200
    assert r.json()["status"] == "time_limit" and r.json()["run"]["limit"] == "cpu_time"
    r = server.post("/v1/execute", json={"language": "c", "code": "int main( {"})
    assert r.status_code == 200 and r.json()["status"] == "compile_error"
    assert r.json()["run"] is None and "error" in r.json()["compile"]["stderr"]


@pytest.mark.parametrize("payload,code", [
    (b"{not json", "malformed_json"),
    (b'{"language": "python"}', "invalid_request"),  # neither code nor files
    (b'{"language": "python", "code": "1", "files": [{"content": "2"}]}', "invalid_request"),
    (b'{"language": "nope", "code": "1"}', "unknown_language"),
    (b'{"language": "python", "code": "1", "limits": {"memory_mb": 999999}}', "invalid_request"),
    (b'{"language": "python", "code": "1", "limits": {"memory_mb": -1}}', "invalid_request"),
    (b'{"language": "python", "code": "1", "surprise": 1}', "invalid_request"),
    (b'{"language": "python", "files": [{"content": "!!", "encoding": "base64"}]}',
     "invalid_request"),
    (b'{"language": "python", "code": "1", "tests": []}', "invalid_request"),
])
def test_bad_input_is_a_400_with_a_message(server, payload, code):
    r = server.post("/v1/execute", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


@pytest.mark.parametrize("payload,content_type", [
    (b"{not json", "application/json"),
    (b'{"language": "python"}', "application/json; charset=utf-8"),
    (b'{"language": "python", "code": "1", "surprise": 1}', None),
    (b'{"language": "python", "code": "1"}', "text/plain"),  # FastAPI: not JSON, then
    (b'{"language": "python", "code": "1"}', "application/x-www-form-urlencoded"),
    (b"", "application/json"),
    (b'{"language": "nope", "code": "1"}', "application/json"),
])
def test_execute_answers_bad_input_as_every_other_route(server, payload, content_type):
    """POST /v1/execute has a shortcut ahead of FastAPI (native.FastExecute); whatever it
    does not run itself goes to FastAPI's route: the same answer as a route without the
    shortcut (POST /v1/runs takes the same body) for any content type and any mistake."""
    headers = {"content-type": content_type} if content_type else {}
    fast = server.post("/v1/execute", content=payload, headers=headers)
    plain = server.post("/v1/runs", content=payload, headers=headers)
    assert fast.status_code == plain.status_code and fast.status_code >= 400, fast.text
    assert fast.json() == plain.json()


@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8",
                                          "application/vnd.execbox+json"])
def test_execute_takes_json_with_or_without_its_content_type(server, content_type):
    headers = {"content-type": content_type} if content_type else {}
    r = server.post("/v1/execute", content=b'{"language": "python", "code": "print(7)"}',
                    headers=headers)
    assert r.status_code == 200 and r.json()["run"]["stdout"] == "7\n", r.text


def test_a_chunked_body_is_411(server):
    r = server.post("/v1/execute", content=iter([b'{"language": "python", ', b'"code": "1"}']))
    assert r.status_code == 411 and r.json()["error"]["code"] == "length_required", r.text


@pytest.mark.parametrize("language, code, tests", [
    ("python", "import time; time.sleep(60)", None),  # warm: supervised on the event loop
    ("bash", "sleep 60", None),  # no warm sandbox here: a cold one, on a worker thread
    ("bash", "sleep 60", [{"stdin": ""}]),  # a judged request's test, on a worker thread
])
def test_a_run_whose_client_goes_away_is_killed(server, language, code, tests):
    """A run is cancelled with its request when the client disconnects: its program is
    killed (on the loop: with the task; on a thread: through its stop), its slot
    (concurrency 1 here) free again."""
    def gone() -> float:
        text = server.get("/metrics").text
        line = next((x for x in text.splitlines()
                     if x.startswith('execbox_rejected_total{reason="client_gone"}')), "x 0")
        return float(line.split()[-1])

    before = gone()
    warm = 'execbox_pool_sandboxes{flavor="python:run",state="warm"} 1.0'
    deadline = time.monotonic() + 10  # a warm sandbox for it (else it runs on a thread)
    while language == "python" and warm not in server.get("/metrics").text:
        assert time.monotonic() < deadline, "no warm sandbox"
        time.sleep(0.02)
    body = json.dumps({"language": language, "code": code,
                       "limits": {"wall_time_ms": 20000, "cpu_time_ms": 10000},
                       **({"tests": tests} if tests else {})}).encode()
    port = server.base_url.port
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(b"POST /v1/execute HTTP/1.1\r\nHost: test\r\n"
                    b"Content-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body)
        deadline = time.monotonic() + 10
        while "execbox_runs_in_progress 1.0" not in server.get("/metrics").text:
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.02)
    deadline = time.monotonic() + 10  # not at its 20 s wall-time limit
    while "execbox_runs_in_progress 0.0" not in server.get("/metrics").text:
        assert time.monotonic() < deadline, "the departed client's run goes on"
        time.sleep(0.02)
    assert gone() == before + 1
    r = server.post("/v1/execute", json={"language": "python", "code": "print(5)"})
    assert r.status_code == 200 and r.json()["run"]["stdout"] == "5\n", r.text
    runs = f'execbox_runs_total{{language="{language}",status="signaled"}}'
    assert runs not in server.get("/metrics").text  # its client is gone: no answer, no run


def test_oversized_body_is_413(server):
    r = server.post("/v1/execute", json={"language": "python", "code": "#" + "x" * 70_000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_overload_is_503_with_retry_after(server):
    slow = threading.Thread(target=lambda: server.post("/v1/execute", json={
        "language": "python", "code": "import time; time.sleep(1.5)"}))
    slow.start()
    time.sleep(0.4)  # concurrency 1, queue 0: the next one cannot even wait
    r = server.post("/v1/execute", json={"language": "python", "code": "print(1)"})
    slow.join()
    assert r.status_code == 503 and r.headers["retry-after"]
    assert r.json()["error"]["code"] == "overloaded"


def test_languages_health_and_openapi(server):
    langs = {entry["name"]: entry for entry in server.get("/v1/languages").json()}
    assert "python" in langs and langs["c"]["compiled"] is True
    assert server.get("/healthz").json() == {"status": "ok"}
    assert server.get("/readyz").status_code in (200, 503)
    spec = server.get("/openapi.json").json()
    assert "/v1/execute" in spec["paths"]
    assert server.get("/nowhere").json()["error"]["code"] == "not_found"


def test_metrics_count_runs_and_show_the_pool(server):
    server.post("/v1/execute", json={"language": "python", "code": "print(1)"})
    server.post("/v1/execute", json={"language": "python", "code": "import os; os.abort()"})
    text = server.get("/metrics").text
    assert 'execbox_runs_total{language="python",status="ok"}' in text
    assert 'execbox_runs_total{language="python",status="signaled"}' in text
    assert "execbox_queue_wait_seconds_bucket" in text
    assert 'execbox_setup_seconds_count{language="python"}' in text
    assert 'execbox_pool_sandboxes{flavor="python:run",state="warm"}' in text
    assert "execbox_queue_depth" in text


def _wait_done(client, run_id, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/runs/{run_id}").json()
        if answer["state"] == "done":
            return answer
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} not done: {answer}")


def test_async_runs_are_queued_then_answered(server):
    r = server.post("/v1/runs", json={"language": "python", "code": "print(input())",
                                      "stdin": "later"})
    assert r.status_code == 202 and r.json()["state"] == "queued"
    done = _wait_done(server, r.json()["id"])
    assert done["status"] == "ok" and done["run"]["stdout"] == "later\n"
    assert server.get("/v1/runs/no-such-run").status_code == 404
    bad = server.post("/v1/runs", json={"language": "python"})
    assert bad.status_code == 400


def test_a_run_left_queued_by_a_dead_server_runs_after_a_restart(server):
    import uuid

    from execbox.sandbox.spec import SandboxSettings
    from execbox.scheduler import RunStore

    run_id = str(uuid.uuid4())
    store = RunStore(SandboxSettings().state_dir + "/runs.sqlite")
    store.add(run_id, {"language": "python", "code": "print('survived')"})  # never started
    store.close()
    # a second server on the same host state: its start-up queues the run again
    with live_server(ServiceSettings(warm_languages=())) as client:
        done = _wait_done(client, run_id)
    assert done["status"] == "ok" and done["run"]["stdout"] == "survived\n"


def test_api_keys_guard_every_route_but_health():
    settings = ServiceSettings(warm_languages=(), api_keys=("s3cret", "other"))
    with live_server(settings) as c:
        body = {"language": "python", "code": "print(1)"}
        assert c.get("/healthz").status_code == 200
        r = c.post("/v1/execute", json=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.post("/v1/execute", json=body,
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/execute", json=body,
                      headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/v1/languages", headers={"X-Api-Key": "other"}).status_code == 200
        assert c.get("/about", headers={"X-Auth-Token": "s3cret"}).status_code == 200
        assert c.get("/metrics").status_code == 401
