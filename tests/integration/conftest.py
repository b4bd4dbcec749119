"""Shared fixtures of the integration tests: a live execbox HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from execbox.api.app import create_app
from execbox.pool import PoolSettings
from execbox.service import Service, ServiceSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(settings: ServiceSettings) -> Iterator[httpx.Client]:
    """A Service on its own uvicorn thread on a free loopback port, and a client for it."""
    service = Service(settings)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        srv.should_exit = True
        thread.join(10)
        service.close()


@pytest.fixture(scope="module")
def server() -> Iterator[httpx.Client]:
    with live_server(ServiceSettings(concurrency=1, queue=0, max_body_bytes=64 * 1024,
                                     pool=PoolSettings(min_warm=1, max_size=2),
                                     warm_languages=("python",))) as client:
        yield client
