"""Judge0 CE 1.13.1 compatibility, driven by the official `judge0` SDK from PyPI."""

from __future__ import annotations

import base64

import judge0
import pytest

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def client(server):
    # the SDK fetches /languages and /config_info (and parses every key) on construction
    return judge0.Client(str(server.base_url).rstrip("/"))


def test_the_sdk_sees_a_judge0_1_13_1(client):
    assert client.version == "1.13.1"
    assert client.is_language_supported(judge0.PYTHON)
    assert client.is_language_supported(judge0.C)
    assert client.config.enable_batched_submissions is True


def test_the_sdk_runs_a_submission(client):
    # (the SDK base64-decodes any field that happens to be valid base64, e.g. "abab":
    # the test data avoids such strings)
    sub = judge0.Submission(source_code="print(input() * 2)", language=judge0.PYTHON,
                            stdin="a-b", expected_output="a-ba-b")
    done = judge0.run(client=client, submissions=sub)
    assert done.status == judge0.Status.ACCEPTED
    assert done.stdout == "a-ba-b\n"
    assert done.time is not None and done.memory is not None
    assert done.created_at is not None and done.finished_at is not None


def test_the_sdk_sees_verdicts_and_batches(client):
    subs = [
        judge0.Submission(source_code="print(1)", language=judge0.PYTHON, expected_output="2"),
        judge0.Submission(source_code="int main( {", language=judge0.C),
        judge0.Submission(source_code="import sys; sys.exit(3)", language=judge0.PYTHON),
        judge0.Submission(source_code="#include <stdio.h>\nint main(){puts(\"c\");}",
                          language=judge0.C),
    ]
    done = judge0.run(client=client, submissions=subs)
    assert [s.status for s in done] == [
        judge0.Status.WRONG_ANSWER, judge0.Status.COMPILATION_ERROR,
        judge0.Status.RUNTIME_ERROR_NZEC, judge0.Status.ACCEPTED]
    assert "error" in done[1].compile_output and done[3].stdout == "c\n"


def test_raw_routes(server):
    r = server.post("/submissions?base64_encoded=true&wait=true", json={
        "language_id": 71, "source_code": base64.b64encode(b"print('hi')").decode()})
    assert r.status_code == 201
    body = r.json()
    assert base64.b64decode(body["stdout"]) == b"hi\n"
    assert body["status"] == {"id": 3, "description": "Accepted"}
    r = server.get(f"/submissions/{body['token']}?fields=status_id,time,created_at")
    one = r.json()
    assert set(one) == {"status_id", "time", "created_at"} and one["status_id"] == 3
    assert one["created_at"].endswith("Z") and "T" in one["created_at"]
    assert server.get("/submissions/nope").status_code == 404
    assert server.post("/submissions", json={"language_id": 9999,
                                             "source_code": "x"}).status_code == 422
    assert [s["id"] for s in server.get("/statuses").json()] == list(range(1, 15))
    assert server.get("/languages/71").json()["source_file"] == "main.py"


@pytest.mark.parametrize("body, message", [
    ({"submissions": []}, "at least one submission"),
    ({"submissions": [{"language_id": 71, "source_code": "1"}] * 21}, "less than or equal to 20"),
    ({"submissions": "x"}, "must be a list"),
])
def test_batches_keep_judge0s_bounds(server, body, message):
    r = server.post("/submissions/batch", json=body)
    assert r.status_code == 400 and message in r.json()["error"]


def test_batch_lookups_keep_judge0s_bounds(server):
    r = server.get("/submissions/batch?tokens=" + ",".join(["x"] * 21))
    assert r.status_code == 400 and "less than or equal to 20" in r.json()["error"]
    r = server.post("/submissions/batch", content=b"{not json")
    assert r.status_code == 400
