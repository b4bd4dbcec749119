"""The gate: who calls, may they, and not too often; then the request runs with its
``Caller`` (the client the scheduler is fair between, the deadline of its queue wait).

``Admission`` decides (the ``Gate`` middleware asks it for every request, the fast lane
for the requests it answers itself, so both share one rate limiter and one count of
requests in progress):

Authentication (when API keys are set): ``Authorization: Bearer KEY``, ``X-Api-Key``,
or Judge0's ``X-Auth-Token`` (on Judge0 routes also as a query parameter, as Judge0
allows; on a WebSocket ``?api_key=``); else 401 (a WebSocket: closed, HTTP 403).
Judge0's privileged routes also need ``X-Auth-User`` (403). Then the per-client rate
(token bucket) and requests in progress: over either is 429 with Retry-After, except
on Judge0 routes, whose SDK cannot handle 429: 503 there.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import Response
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execbox.api import errors
from execbox.api.compat import judge0_auth
from execbox.api.execution import Caller, caller
from execbox.api.limits import ConcurrencyLimiter, RateLimiter
from execbox.api.metrics import Metrics
from execbox.scheduler import current_client
from execbox.service import ServiceSettings

log = logging.getLogger("execbox.api")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
ADMITTED = "execbox.admitted"  # a scope's key: the client an earlier layer admitted

_MESSAGES = {
    "unauthorized": "an API key is required: Authorization: Bearer KEY, "
                    "X-Api-Key: KEY or (Judge0) X-Auth-Token: KEY",
    "forbidden": "this route needs a valid X-Auth-User",
    "rate_limited": "too many requests: try again in {retry_after} s",
    "key_concurrency": "too many requests in progress for this client",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # a key of _MESSAGES, and the metric's label
    status: int
    retry_after: int | None = None


class Admission:
    def __init__(self, settings: ServiceSettings, metrics: Metrics,
                 judge0_segments: frozenset[str]) -> None:
        self.metrics = metrics
        self.keys = [k.encode() for k in settings.api_keys]
        self.users = [t.encode() for t in settings.judge0_auth_user_tokens]
        self.rate = (RateLimiter(settings.rate_limit, settings.rate_burst)
                     if settings.rate_limit > 0 else None)
        self.concurrency = (ConcurrencyLimiter(settings.key_concurrency)
                            if settings.key_concurrency > 0 else None)
        self.queue_timeout_s = settings.queue_timeout_s
        self.judge0_segments = judge0_segments

    def is_judge0(self, path: str) -> bool:
        return path.split("/")[1] in self.judge0_segments

    def admit(self, scope: Scope) -> str | Refusal:
        """The client of a request (HTTP or WebSocket), counted in progress until
        ``release``; or why it is refused (nothing counted then)."""
        path: str = scope["path"]
        is_judge0 = self.is_judge0(path)
        headers = Headers(scope=scope)
        websocket = scope["type"] == "websocket"
        query = (parse_qs(scope.get("query_string", b"").decode("latin-1"))
                 if is_judge0 or websocket else {})
        if self.keys:
            key = _credential(headers, query, judge0=is_judge0, websocket=websocket)
            if key is None or not _matches(key, self.keys):
                return Refusal("unauthorized", 401)
            client = "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]
        else:
            peer = scope.get("client")
            client = f"addr:{peer[0] if peer else 'unknown'}"
        if is_judge0 and judge0_auth.privileged(scope.get("method", ""), path):
            user = headers.get("x-auth-user") or next(iter(query.get("X-Auth-User", [])), None)
            if not self.users or not user or not _matches(user, self.users):
                return Refusal("forbidden", 403)
        if self.rate is not None:
            wait = self.rate.take(client, time.monotonic())
            if wait > 0:
                return Refusal("rate_limited", 429, max(1, math.ceil(wait)))
        if self.concurrency is not None and not self.concurrency.acquire(client):
            return Refusal("key_concurrency", 429, 1)
        return client

    def release(self, client: str) -> None:
        if self.concurrency is not None:
            self.concurrency.release(client)

    def client_gone(self, scope: Scope, client: str) -> None:
        """A request cancelled because its client disconnected: counted and logged."""
        self.metrics.rejected.labels("client_gone").inc()
        log.info("client went away: request cancelled",
                 extra={"path": scope["path"], "client": client})

    def caller(self, client: str) -> Caller:
        return Caller(client, deadline=time.monotonic() + self.queue_timeout_s)

    async def refuse(self, scope: Scope, receive: Receive, send: Send,
                     refusal: Refusal) -> None:
        """Answer a refused request as its API answers errors."""
        self.metrics.rejected.labels(refusal.reason).inc()
        status, retry_after = refusal.status, refusal.retry_after
        if scope["type"] == "websocket":
            # before the handshake is accepted, a close is an HTTP 403 to the client
            await send({"type": "websocket.close", "code": 1008 if status < 429 else 1013,
                        "reason": refusal.reason})
            return
        path: str = scope["path"]
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        message = _MESSAGES[refusal.reason].format(retry_after=retry_after)
        response: Response
        if self.is_judge0(path):
            if status in (401, 403):  # as Judge0: an empty body
                response = Response(status_code=status)
            else:  # Judge0's SDK cannot handle 429
                response = JSONResponse({"error": message}, status_code=503, headers=headers)
        elif path.startswith("/api/v2/"):
            response = JSONResponse({"message": message}, status_code=status, headers=headers)
        else:
            response = errors.error(status, refusal.reason, message, headers)
        await response(scope, receive, send)


class Gate:
    """The middleware: ``Admission`` for every HTTP request and WebSocket (but the
    health probes), then the request runs with its ``Caller``. A POST outside Judge0 is
    cancelled when its client disconnects (a queued run leaves the queue); Judge0
    submissions outlive their request, as in Judge0."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission
        self.metrics = admission.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        client = scope.get(ADMITTED)  # the fast lane's, which releases it
        if client is None:
            admitted = self.admission.admit(scope)
            if isinstance(admitted, Refusal):
                return await self.admission.refuse(scope, receive, send, admitted)
            client = admitted
        try:
            me = self.admission.caller(client)
            token = caller.set(me)
            client_token = current_client.set(client)  # for every scheduler.submit
            try:
                if (scope["type"] == "http" and scope["method"] == "POST"
                        and not self.admission.is_judge0(scope["path"])):
                    await self._cancellable(scope, receive, send, me)
                else:
                    me.task = asyncio.current_task()
                    await self.app(scope, receive, send)
            finally:
                current_client.reset(client_token)
                caller.reset(token)
        finally:
            if ADMITTED not in scope:
                self.admission.release(client)

    async def _cancellable(self, scope: Scope, receive: Receive, send: Send,
                           me: Caller) -> None:
        """Run the app in a task that is cancelled if the client disconnects before the
        response starts. Once the app has read the whole body, a watcher waits on the
        server's ``receive`` (which then only returns on a disconnect or once the response
        is complete) and hands that message on to the app if it asks."""
        loop = asyncio.get_running_loop()
        body_done = False
        started = False
        gone = False
        end: asyncio.Future[Message] = loop.create_future()
        watcher: asyncio.Task[None] | None = None

        async def watch() -> None:
            nonlocal gone
            message = await receive()
            if not end.done():
                end.set_result(message)
            if message["type"] == "http.disconnect" and not started and not work.done():
                gone = True
                work.cancel()

        async def app_receive() -> Message:
            nonlocal body_done, watcher
            if body_done:
                return await asyncio.shield(end)
            message = await receive()
            if message["type"] == "http.disconnect":
                body_done = True
                if not end.done():
                    end.set_result(message)
            elif not message.get("more_body", False):
                body_done = True
                watcher = loop.create_task(watch())
            return message

        async def app_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def serve() -> None:
            await self.app(scope, app_receive, app_send)

        work = loop.create_task(serve())
        me.task = work
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not gone or (current is not None and current.cancelling()):
                raise
            self.admission.client_gone(scope, me.client)
        finally:
            if watcher is not None:
                watcher.cancel()


def _matches(given: str, tokens: list[bytes]) -> bool:
    candidate = given.encode()
    # compare against every token, in constant time each, so timing tells nothing
    return any([hmac.compare_digest(candidate, token) for token in tokens])


def segments(*routers: Any) -> frozenset[str]:
    """The first path segments of the routes of ``routers`` ("submissions", "about"...)."""
    return frozenset(route.path.split("/")[1] for router in routers for route in router.routes)


def _credential(headers: Headers, query: dict[str, list[str]], judge0: bool,
                websocket: bool) -> str | None:
    """The API key of a request: a header; on Judge0's routes also ``?X-Auth-Token=`` (as
    Judge0), on a WebSocket also ``?api_key=`` (browsers cannot set its headers)."""
    given = headers.get("x-api-key") or headers.get("x-auth-token")
    bearer = headers.get("authorization", "")
    if not given and bearer.lower().startswith("bearer "):
        given = bearer[7:].strip()
    if not given and judge0 and query.get("X-Auth-Token"):
        given = query["X-Auth-Token"][0]
    if not given and websocket and query.get("api_key"):
        given = query["api_key"][0]
    return given or None


