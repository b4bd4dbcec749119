"""The fast lane: ``POST /v1/execute`` (and ``/execute``) with a plainly valid JSON body,
answered ahead of the app's middleware stack and FastAPI's routing.

A warm run takes a few milliseconds; the layers a request goes through around it (the
access log, CORS, the gate's task per POST, the body cap, Starlette's exception and
routing layers, FastAPI's request and response objects) took another ~0.3 ms on the
benchmark's machine, where an idle CPU loses its caches and every layer is run cold
(paired runs, docs/benchmarks.md). This is the same work in one place:

- a request it has any doubt about goes on to the app: before anything is counted if its
  headers show it (another content type than JSON, a chunked or oversized body, a CORS
  request: an ``Origin`` while CORS is configured); once admitted, with its body
  replayed and its admission standing (``gate.ADMITTED``), if the model or the request's
  resolution refuses the body (bad JSON, an unknown language...). The app then answers
  it, errors included, as it answers every route;
- the gate's ``Admission`` (the same one: keys, rate, requests in progress) before the
  body is read, its refusals, the request's ``Caller``, and the cancellation of the
  request when its client goes away before the answer starts (watched from
  ``WATCH_AFTER_S`` into the run: a task per request cost ~0.09 ms, and most runs are
  over by then);
- errors raised by the run (a full queue, the shutdown) answered by the app's own
  exception handlers; the access log line once the answer is out (afterwards.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execbox.api import native
from execbox.api.execution import caller
from execbox.api.gate import ADMITTED, Admission, Refusal
from execbox.api.logs import log_access, logged
from execbox.api.metrics import Metrics
from execbox.api.models import ExecuteRequest
from execbox.scheduler import current_client
from execbox.service import Service

PATHS = frozenset({"/v1/execute", "/execute"})
WATCH_AFTER_S = 0.05  # a run still going then gets a watcher for its client's departure
_JSON = b"application/json"


@dataclass(slots=True)
class _Watch:
    """A request's departure: is its answer being written, did its client go, who waits
    for that."""

    answering: bool = False
    gone: bool = False
    watcher: asyncio.Task[None] | None = None


class FastLane:
    def __init__(self, app: ASGIApp, api: FastAPI, service: Service, metrics: Metrics,
                 admission: Admission) -> None:
        self.app = app
        self.api = api  # its exception handlers answer the run's errors
        self.service = service
        self.metrics = metrics
        self.admission = admission
        self.limit = service.settings.max_body_bytes
        self.cors = bool(service.settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or scope["path"] not in PATHS or not self._plain(scope["headers"])):
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        # admitted before its body is read, as by the gate: a refused client's body is not
        # parsed, nor read past what the server holds already
        admitted = self.admission.admit(scope)
        if isinstance(admitted, Refusal):
            return await self.admission.refuse(scope, receive, self._logged(scope, send, start),
                                               admitted)
        try:
            chunks = []
            while True:
                message = await receive()
                if message["type"] != "http.request":  # gone before its body was whole
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            raw = b"".join(chunks)
            job = self._job(raw)
            if job is None:  # the app answers it, this admission standing (gate.ADMITTED)
                scope[ADMITTED] = admitted
                return await self.app(scope, _replay(raw, receive), send)
            await self._run(scope, receive, send, job, admitted, start)
        finally:
            self.admission.release(admitted)

    def _plain(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """JSON (or no content type), a Content-Length within the cap, not CORS."""
        length = None
        for name, value in headers:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                if value.split(b";", 1)[0].strip().lower() != _JSON:
                    return False
            elif name == b"transfer-encoding" or (name == b"origin" and self.cors):
                return False
        return length is not None and length.isdigit() and int(length) <= self.limit

    def _job(self, raw: bytes) -> native.Job | None:
        """The request's job, or None if the model or its resolution refuses it (the app
        then says why, as it would)."""
        try:
            body = ExecuteRequest.model_validate(json.loads(raw))  # as the app parses it
            return native.resolve_job(self.service, body)
        except Exception:
            return None

    async def _run(self, scope: Scope, receive: Receive, send: Send, job: native.Job,
                   client: str, start: float) -> None:
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        assert current is not None
        task = current
        me = self.admission.caller(client)
        me.task = task
        token = caller.set(me)
        client_token = current_client.set(client)  # for every scheduler.submit
        state = _Watch()

        async def watch() -> None:  # the request's body is whole: this waits for its end
            message = await receive()
            if message["type"] == "http.disconnect" and not state.answering:
                state.gone = True
                task.cancel()

        def start_watching() -> None:
            state.watcher = loop.create_task(watch())

        # a run that ends within WATCH_AFTER_S needs no watcher (most do): a client gone
        # before that is noticed then
        timer = loop.call_later(WATCH_AFTER_S, start_watching)
        try:
            data = await native.answer(self.service, self.metrics, job)
            state.answering = True
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", _JSON),
                                    (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            self.metrics.afterwards.add(log_access, scope, 200, start, time.perf_counter())
        except asyncio.CancelledError:
            if not state.gone or task.uncancel() > 0:
                raise
            self.admission.client_gone(scope, client)
        except Exception as exc:
            state.answering = True
            if not await self._answer_error(scope, receive, self._logged(scope, send, start),
                                            exc):
                raise
        finally:
            timer.cancel()
            if state.watcher is not None:
                state.watcher.cancel()
            current_client.reset(client_token)
            caller.reset(token)

    def _logged(self, scope: Scope, send: Send, start: float) -> Send:
        return logged(scope, send, start, self.metrics.afterwards.add)

    async def _answer_error(self, scope: Scope, receive: Receive, send: Send,
                            exc: Exception) -> bool:
        """Answer ``exc`` with the app's handler for it, as its exception layer would;
        False if it has none (the server's error layer then answers 500)."""
        handlers: dict[Any, Any] = self.api.exception_handlers
        handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
        if handler is None:
            return False
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)
        return True


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives the body read already first, then the server's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
