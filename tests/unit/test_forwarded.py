"""api/forwarded.py: uvicorn's proxy-headers middleware, entered only by requests that
carry an X-Forwarded-* header; every other request is passed on as it came."""

from __future__ import annotations

import asyncio

from execbox.api.forwarded import ForwardedHeaders


def _call(headers: list[tuple[bytes, bytes]], peer: str = "127.0.0.1",
          trusted: str = "127.0.0.1", kind: str = "http") -> dict:
    seen: dict = {}

    async def app(scope, receive, send):
        seen.update(scope)

    scope = {"type": kind, "scheme": "http", "client": (peer, 5000), "headers": headers}
    if kind == "lifespan":
        del scope["headers"], scope["client"]
    asyncio.run(ForwardedHeaders(app, trusted)(scope, None, None))
    return seen


def test_a_trusted_proxys_forwarded_for_and_proto_are_the_client_and_scheme():
    seen = _call([(b"host", b"x"), (b"x-forwarded-for", b"203.0.113.7, 127.0.0.1"),
                  (b"x-forwarded-proto", b"https")])
    assert seen["client"] == ("203.0.113.7", 0)
    assert seen["scheme"] == "https"


def test_an_untrusted_peer_keeps_its_own_address():
    seen = _call([(b"x-forwarded-for", b"203.0.113.7")], peer="198.51.100.2")
    assert seen["client"] == ("198.51.100.2", 5000)
    assert seen["scheme"] == "http"


def test_trusted_hosts_as_configured():
    seen = _call([(b"x-forwarded-for", b"203.0.113.7")], peer="198.51.100.2",
                 trusted="198.51.100.0/24")
    assert seen["client"] == ("203.0.113.7", 0)
    assert _call([(b"x-forwarded-for", b"203.0.113.9")], peer="10.1.1.1",
                 trusted="*")["client"] == ("203.0.113.9", 0)


def test_a_request_without_them_passes_as_it_came():
    headers = [(b"host", b"x"), (b"x-forward", b"not one of them"), (b"forwarded", b"for=1.2.3.4")]
    seen = _call(headers)
    assert seen["client"] == ("127.0.0.1", 5000) and seen["scheme"] == "http"
    assert seen["headers"] is headers


def test_websockets_too_and_the_lifespan_untouched():
    seen = _call([(b"x-forwarded-for", b"203.0.113.7")], kind="websocket")
    assert seen["client"] == ("203.0.113.7", 0)
    assert _call([], kind="lifespan") == {"type": "lifespan", "scheme": "http"}
