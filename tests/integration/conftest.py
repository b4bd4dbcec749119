"""Shared fixtures of the integration tests: a live execbox HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
import time

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


@pytest.fixture(scope="module")
def server():
    settings = ServiceSettings(concurrency=1, queue=0, max_body_bytes=64 * 1024,
                               pool=PoolSettings(min_warm=1, max_size=2),
                               warm_languages=("python",))
    service = Service(settings)
    port = free_port()
    config = uvicorn.Config(create_app(service), host="127.0.0.1", port=port,
                            log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    srv.should_exit = True
    thread.join(10)
    service.close()
