"""Piston v2 compatibility: the real `pistonapi` client, and what other clients send."""

from __future__ import annotations

import pytest
from pistonapi import PistonAPI

pytestmark = pytest.mark.root


def _base(server) -> str:
    return str(server.base_url).rstrip("/")


def test_the_pistonapi_client_runs_code(server):
    piston = PistonAPI(endpoint=_base(server) + "/api/v2")
    assert "python" in piston.runtimes
    assert piston.execute(language="py", version="3", code="print(6 * 7)") == "42\n"
    assert piston.execute(language="python", version="*", code="print(input())",
                          stdin="from stdin") == "from stdin\n"
    c = '#include <stdio.h>\nint main(void){puts("compiled");return 0;}\n'
    assert piston.execute(language="c", version="*", code=c) == "compiled\n"


def test_the_public_instance_path_works_too(server):
    piston = PistonAPI(endpoint=_base(server) + "/api/v2/piston")
    assert piston.execute(language="python", version="3.11", code="print(1)") == "1\n"


@pytest.mark.parametrize("content,headers", [
    (b'{"language":"python","version":"3","files":[{"content":"print(1)"}]}', {}),
    (b'{"language":"python","files":"print(1)"}', {"content-type": "text/plain"}),
    (b'{"language":"python","files":["print(1)"],"run_memory_limit":-1}',
     {"content-type": "application/json"}),
    (b"language=python&version=*&files=print%281%29",
     {"content-type": "application/x-www-form-urlencoded"}),
])
def test_lenient_bodies(server, content, headers):
    r = server.post("/api/v2/execute", content=content, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["language"] == "python" and body["run"]["stdout"] == "1\n"
    assert body["run"]["code"] == 0 and body["run"]["output"] == "1\n"


def test_piston_errors_and_statuses(server):
    r = server.post("/api/v2/execute", json={"language": "python", "version": "2.7",
                                             "files": [{"content": "print 1"}]})
    assert r.status_code == 400 and "runtime is unknown" in r.json()["message"]
    r = server.post("/api/v2/execute", json={"language": "python"})
    assert r.status_code == 400 and "files" in r.json()["message"]
    r = server.post("/api/v2/execute", json={"language": "python", "files": "while 1: pass",
                                             "run_timeout": 300})
    assert r.status_code == 200 and r.json()["run"]["status"] == "TO"
    r = server.post("/api/v2/execute", json={"language": "c", "files": "int main( {"})
    body = r.json()
    assert body["compile"]["code"] != 0 and body["run"]["code"] is None
