"""bench/http_client.py: the benchmark's keep-alive HTTP/1.1 client, against a loopback
server that answers what each test scripts."""

from __future__ import annotations

import socket
import threading

import pytest

from execbox.bench.http_client import ConnectionClosed, KeepAlive


def _serve(answers: list[list[bytes]]):
    """A one-connection server: for each request it reads, it sends the next answer's
    pieces one by one (a piece None: close the connection). Returns (port, requests)."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def run() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            buf = b""
            for pieces in answers:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buf) < length:
                    buf += conn.recv(65536)
                requests.append(head + b"\r\n\r\n" + buf[:length])
                buf = buf[length:]
                for piece in pieces:
                    if piece is None:
                        return
                    conn.sendall(piece)

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1], requests


def test_answers_in_pieces_any_header_case_and_keep_alive():
    port, requests = _serve([
        [b"HTTP/1.1 200 OK\r\nDate: x\r\nCONTENT-LENGTH: 5\r\n\r\nhe", b"llo"],
        [b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n",
         b"content-length:  3 \r\n\r\nno!"],
    ])
    client = KeepAlive("127.0.0.1", port, timeout_s=5)
    try:
        assert client.request("POST", "/v1/execute", b'{"a":1}') == (200, b"hello")
        assert client.connected
        assert client.request("GET", "/x") == (404, b"no!")
    finally:
        client.close()
    assert requests[0].startswith(b"POST /v1/execute HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert requests[0].endswith(b"Content-Length: 7\r\n\r\n{\"a\":1}")
    assert requests[1].startswith(b"GET /x HTTP/1.1\r\n")


def test_connection_close_closes_and_a_closed_connection_says_so():
    port, _ = _serve([[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"]])
    client = KeepAlive("127.0.0.1", port, timeout_s=5)
    assert client.request("GET", "/") == (200, b"ok")
    assert not client.connected
    port, _ = _serve([[None]])
    with pytest.raises(ConnectionClosed):
        KeepAlive("127.0.0.1", port, timeout_s=5).request("GET", "/")


def test_an_answer_without_content_length_or_cut_short_is_an_error():
    port, _ = _serve([[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]])
    with pytest.raises(ConnectionError, match="without Content-Length"):
        KeepAlive("127.0.0.1", port, timeout_s=5).request("GET", "/")
    port, _ = _serve([[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", None]])
    with pytest.raises(ConnectionError, match="mid-answer"):
        KeepAlive("127.0.0.1", port, timeout_s=5).request("GET", "/")
