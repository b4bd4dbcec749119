"""Interactive runs over WebSockets against a live server: the native /v1/interactive and
Piston's /api/v2/connect, with a real WebSocket client (websockets)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from conftest import live_server
from execbox.pool import PoolSettings
from execbox.service import ServiceSettings

pytestmark = pytest.mark.root

ECHO = ("import sys\nprint('ready', flush=True)\nfor line in sys.stdin:\n"
        "    print('echo', line.strip(), flush=True)\nprint('bye')\n")


@pytest.fixture(scope="module")
def live() -> Iterator[httpx.Client]:
    with live_server(ServiceSettings(concurrency=2, queue=4, warm_languages=(),
                                     pool=PoolSettings(min_warm=0))) as client:
        yield client


def ws_url(client: httpx.Client, path: str) -> str:
    return str(client.base_url).replace("http://", "ws://") + path


def receive(ws: ClientConnection, timeout: float = 20) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    assert isinstance(message, dict)
    return message


def until(ws: ClientConnection, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Messages up to the first of ``kind``: (that one, those before it)."""
    seen = []
    while True:
        message = receive(ws)
        if message["type"] == kind:
            return message, seen
        seen.append(message)


def text(messages: list[dict[str, Any]], stream: str = "stdout") -> str:
    return "".join(m["data"] for m in messages if m["type"] == stream)


def test_stdin_in_output_out_while_it_runs(live: httpx.Client) -> None:
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python", "code": ECHO}))
        accepted = receive(ws)
        assert accepted["type"] == "accepted" and accepted["language"] == "python"
        # the prompt arrives before any input exists: output is streamed, not collected
        _, before = until(ws, "started")
        ready = ""
        while "ready" not in ready:
            message = receive(ws)
            assert message["type"] == "stdout"
            ready += message["data"]
        ws.send(json.dumps({"type": "stdin", "data": "one\n"}))
        got = ""
        while "echo one" not in got:
            got += receive(ws)["data"]
        ws.send(json.dumps({"type": "stdin", "data": "dHdvCg==", "encoding": "base64"}))
        ws.send(json.dumps({"type": "eof"}))
        exit_message, rest = until(ws, "exit")
        assert "echo two\n" in text(rest) and "bye\n" in text(rest)
        assert exit_message["status"] == "ok" and exit_message["run"]["exit_code"] == 0
        assert exit_message["run"]["stdout"] == ""  # streamed, not repeated
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_a_terminal_when_asked(live: httpx.Client) -> None:
    code = ("import os, sys\nprint('tty', os.isatty(0), os.isatty(1), "
            "os.get_terminal_size().columns, sorted(os.listdir('/dev/pts')), flush=True)\n"
            "print('got', input('name? '), file=sys.stderr)\n")
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python", "code": code,
                            "pty": {"rows": 30, "cols": 100}}))
        out = ""
        while "name? " not in out:
            message = receive(ws)
            if message["type"] == "stdout":
                out += message["data"]
        # its own devpts: only its terminal, none of the host's
        assert "tty True True 100 ['0', 'ptmx']" in out
        ws.send(json.dumps({"type": "stdin", "data": "ada\n"}))
        exit_message, rest = until(ws, "exit")
        assert "got ada" in text(rest)  # stderr is the terminal too
        assert exit_message["status"] == "ok"


def test_a_signal_reaches_the_program(live: httpx.Client) -> None:
    code = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python", "code": code}))
        until(ws, "stdout")
        ws.send(json.dumps({"type": "signal", "signal": "SIGINT"}))
        exit_message, rest = until(ws, "exit")
        assert "KeyboardInterrupt" in text(rest, "stderr")
        assert exit_message["run"]["status"] == "signaled"
        assert exit_message["run"]["signal"] == "SIGINT"


def test_an_idle_session_ends(live: httpx.Client) -> None:
    with connect(ws_url(live, "/v1/interactive")) as ws:
        started = time.monotonic()
        ws.send(json.dumps({"type": "run", "language": "python", "idle_timeout_ms": 700,
                            "code": "input()"}))
        exit_message, _ = until(ws, "exit")
        assert time.monotonic() - started < 15
        assert exit_message["run"]["status"] == "signaled"
        assert "idle" in exit_message["run"]["message"]


def test_a_client_that_leaves_ends_its_run(live: httpx.Client) -> None:
    ws = connect(ws_url(live, "/v1/interactive"))
    ws.send(json.dumps({"type": "run", "language": "python",
                        "code": "import time\nprint('up', flush=True)\ntime.sleep(60)"}))
    until(ws, "stdout")
    assert live.get("/readyz").json()["running"] == 1
    ws.close()
    deadline = time.monotonic() + 10
    while live.get("/readyz").json()["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live.get("/readyz").json()["running"] == 0


def test_a_compiled_language(live: httpx.Client) -> None:
    code = ('#include <stdio.h>\nint main(void){int a,b;printf("?\\n");fflush(stdout);'
            'if(scanf("%d %d",&a,&b)!=2)return 3;printf("%d\\n",a+b);return 0;}\n')
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "c", "code": code}))
        compiled, _ = until(ws, "compile")
        assert compiled["status"] == "ok"
        until(ws, "stdout")
        ws.send(json.dumps({"type": "stdin", "data": "2 40\n"}))
        exit_message, rest = until(ws, "exit")
        assert text(rest) == "42\n" and exit_message["status"] == "ok"


def test_a_compile_error_ends_the_session(live: httpx.Client) -> None:
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "c", "code": "int main( {"}))
        exit_message, before = until(ws, "exit")
        assert exit_message["status"] == "compile_error" and exit_message["run"] is None
        assert any(m["type"] == "compile" and m["status"] != "ok" for m in before)


def test_output_is_capped_while_streamed(live: httpx.Client) -> None:
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python",
                            "code": "while True: print('x' * 1000)",
                            "limits": {"output_bytes": 10000}}))
        exit_message, rest = until(ws, "exit")
        assert exit_message["run"]["status"] == "output_limit"
        assert len(text(rest)) <= 10000


@pytest.mark.parametrize("first, fragment", [
    ({"type": "stdin", "data": "x"}, "first message"),
    ({"type": "run", "language": "cobol-9000", "code": "x"}, "cobol"),
    ({"type": "run", "language": "python", "code": "1", "tests": []}, "tests"),
    ({"type": "run", "language": "python", "code": "1", "pty": {"rows": 0}}, "pty"),
    ({"type": "run", "language": "python", "code": "1", "limits": {"memory_mb": 10**9}},
     "memory_mb"),
])
def test_bad_requests_get_an_error_and_a_close(live: httpx.Client, first: dict[str, Any],
                                               fragment: str) -> None:
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps(first))
        message = receive(ws)
        assert message["type"] == "error" and message["error"]["code"] == "invalid_request"
        assert fragment in message["error"]["message"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_bad_messages_during_a_run(live: httpx.Client) -> None:
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python", "code": "input()"}))
        until(ws, "started")
        ws.send(json.dumps({"type": "signal", "signal": "SIGNOPE"}))
        message, _ = until(ws, "error")
        assert "SIGNOPE" in message["error"]["message"]


def test_keys_guard_the_socket() -> None:
    settings = ServiceSettings(concurrency=1, queue=1, warm_languages=(),
                               api_keys=("s3cret",))
    with live_server(settings) as client:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(client, "/v1/interactive"))
        assert refused.value.response.status_code == 403
        with connect(ws_url(client, "/v1/interactive?api_key=s3cret")) as ws:
            ws.send(json.dumps({"type": "run", "language": "python", "code": "print(1)"}))
            exit_message, rest = until(ws, "exit")
            assert text(rest) == "1\n"
        with connect(ws_url(client, "/api/v2/connect"),
                     additional_headers={"X-Api-Key": "s3cret"}) as ws:
            ws.send(json.dumps({"type": "init", "language": "python", "version": "3",
                                "files": [{"content": "print(2)"}]}))
            assert receive(ws)["type"] == "runtime"


# --- Piston's /api/v2/connect --------------------------------------------------------------

def piston_close_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_piston_connect_runs_a_job(live: httpx.Client) -> None:
    with connect(ws_url(live, "/api/v2/connect")) as ws:
        ws.send(json.dumps({"type": "init", "language": "python", "version": "3.x",
                            "files": [{"name": "main.py", "content": ECHO}]}))
        runtime = receive(ws)
        assert runtime["type"] == "runtime" and runtime["language"] == "python"
        assert receive(ws) == {"type": "stage", "stage": "run"}
        assert receive(ws) == {"type": "data", "stream": "stdout", "data": "ready\n"}
        ws.send(json.dumps({"type": "data", "stream": "stdin", "data": "hi\n"}))
        assert receive(ws) == {"type": "data", "stream": "stdout", "data": "echo hi\n"}
        ws.send(json.dumps({"type": "signal", "signal": "SIGTERM"}))
        assert receive(ws) == {"type": "exit", "stage": "run", "code": None,
                               "signal": "SIGTERM"}
        assert piston_close_code(ws) == 4999


def test_piston_connect_compiles_first(live: httpx.Client) -> None:
    with connect(ws_url(live, "/api/v2/connect")) as ws:
        ws.send(json.dumps({"type": "init", "language": "c", "version": "*",
                            "files": [{"content": 'int main(void){puts("c!");}\n'
                                       "#include <stdio.h>\n"}]}))
        kinds = []
        while True:
            try:
                message = receive(ws)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4999
                break
            kinds.append((message["type"], message.get("stage") or message.get("data")))
        assert ("stage", "compile") in kinds and ("exit", "compile") in kinds
        assert kinds[-3:] == [("stage", "run"), ("data", "c!\n"), ("exit", "run")]


@pytest.mark.parametrize("messages, code", [
    ([], 4001),  # no init within a second
    ([{"type": "data", "stream": "stdin", "data": "x"}], 4003),
    ([{"type": "init", "language": "python", "version": "3",
       "files": [{"content": "input()"}]},
      {"type": "data", "stream": "stdout", "data": "x"}], 4004),
    ([{"type": "init", "language": "python", "version": "3",
       "files": [{"content": "input()"}]}, {"type": "signal", "signal": "SIGNOPE"}], 4005),
    ([{"type": "init", "language": "python", "version": "3",
       "files": [{"content": "input()"}]}, {"type": "init"}], 4000),
    ([{"type": "init", "language": "brainfudge", "version": "1", "files": ["+"]}], 4002),
])
def test_piston_connect_close_codes(live: httpx.Client, messages: list[dict[str, Any]],
                                    code: int) -> None:
    with connect(ws_url(live, "/api/v2/connect")) as ws:
        for message in messages:
            ws.send(json.dumps(message))
        assert piston_close_code(ws) == code


def test_a_terminal_cannot_push_input_with_tiocsti(live: httpx.Client) -> None:
    # pushing bytes into a terminal's input queue is how a sandbox escapes through a
    # shared tty; the sandbox's own pty is not shared, and the call is filtered anyway
    code = ("import fcntl, termios\nprint('up', flush=True)\n"
            "fcntl.ioctl(0, termios.TIOCSTI, b'x')\nprint('pushed', flush=True)\n")
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python", "code": code, "pty": True}))
        exit_message, rest = until(ws, "exit")
        assert "pushed" not in text(rest)
        assert "PermissionError" in text(rest)  # the filter answers EPERM
        assert exit_message["run"]["status"] == "runtime_error"


def test_stdin_nobody_reads_is_bounded(live: httpx.Client) -> None:
    # a client cannot make the server hold unbounded input for a program that never reads
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python",
                            "code": "import time\ntime.sleep(20)"}))
        until(ws, "started")
        chunk = "x" * (1024 * 1024)
        errors = []
        try:
            for _ in range(5):  # the fifth is over the 4 MiB a run may have waiting
                ws.send(json.dumps({"type": "stdin", "data": chunk}))
            while True:
                message = receive(ws)
                if message["type"] == "error":
                    errors.append(message["error"]["message"])
        except ConnectionClosed as closed:  # refused, then closed as a policy violation
            assert closed.rcvd is not None and closed.rcvd.code == 1008
        assert all("waiting for the program" in e for e in errors)


def test_output_cut_inside_a_character_is_not_lost(live: httpx.Client) -> None:
    # the last bytes are half of a UTF-8 character: they still arrive (as U+FFFD)
    code = "import sys\nsys.stdout.buffer.write('ok é'.encode()[:-1])\n"
    with connect(ws_url(live, "/v1/interactive")) as ws:
        ws.send(json.dumps({"type": "run", "language": "python", "code": code}))
        exit_message, rest = until(ws, "exit")
        assert text(rest) == "ok \ufffd" and exit_message["status"] == "ok"
