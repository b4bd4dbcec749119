"""The ASGI application: FastAPI, the native and compatible routes, errors as JSON, and the
operations around them (outermost first):

- an access log line per request, once its answer is out;
- CORS for the configured origins (preflights answered before any key is asked for);
- the gate: API keys (and Judge0's X-Auth-Token / X-Auth-User), per-client rate and
  concurrency limits, the client identity and deadline the scheduler uses, and the
  cancellation of a request whose client went away;
- a body size cap;
- graceful shutdown in the lifespan (``Shutdown``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execbox import __version__
from execbox.api import errors, interactive, native
from execbox.api.compat import judge0, judge0_auth, piston, piston_connect
from execbox.api.execution import Caller, caller
from execbox.api.limits import ConcurrencyLimiter, RateLimiter
from execbox.api.metrics import Metrics
from execbox.api.models import ExecuteRequest
from execbox.scheduler import ShuttingDown, current_client
from execbox.service import Service

log = logging.getLogger("execbox.api")
access = logging.getLogger("execbox.access")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


class BodyLimit:
    """Bodies over ``limit`` bytes are refused (413) before anything reads them; a body of
    unknown length (chunked) is refused too (411): the server (uvicorn) holds a request to
    its Content-Length. Plain ASGI, not BaseHTTPMiddleware: ~1 ms less per request."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b""):
                response = errors.error(411, "length_required",
                                        "a body needs a Content-Length")
                return await response(scope, receive, send)
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                response = errors.error(413, "body_too_large",
                                        f"the body is over {self.limit} bytes")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


class AccessLog:
    """One JSON line per HTTP request (``execbox.access``), written once its answer is out.
    uvicorn's own access line (turned off: serve_cmd) was written between an answer's head
    and its body, on the answer's path: 0.1 to 0.3 ms of every answer on the benchmark's
    machine (paired runs with and without it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 0

        async def logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                peer = scope.get("client")
                client = f"{peer[0]}:{peer[1]}" if peer else "-"
                access.info('%s - "%s %s HTTP/%s" %d', client, scope["method"], scope["path"],
                            scope["http_version"], status, extra={
                                "status": status, "path": scope["path"],
                                "ms": round((time.perf_counter() - start) * 1000, 2)})

        await self.app(scope, receive, logged)


def _matches(given: str, tokens: list[bytes]) -> bool:
    candidate = given.encode()
    # compare against every token, in constant time each, so timing tells nothing
    return any([hmac.compare_digest(candidate, token) for token in tokens])


def _segments(*routers: Any) -> frozenset[str]:
    """The first path segments of the routes of ``routers`` ("submissions", "about"...)."""
    return frozenset(route.path.split("/")[1] for router in routers for route in router.routes)


class Gate:
    """Who calls, may they, and not too often; then the request runs with its ``Caller``.

    Authentication (when API keys are set): ``Authorization: Bearer KEY``, ``X-Api-Key``,
    or Judge0's ``X-Auth-Token`` (on Judge0 routes also as a query parameter, as Judge0
    allows; on a WebSocket ``?api_key=``); else 401 (a WebSocket: closed, HTTP 403).
    Judge0's privileged routes also need ``X-Auth-User`` (403). Then the per-client rate
    (token bucket) and requests in progress: over either is 429 with Retry-After, except
    on Judge0 routes, whose SDK cannot handle 429: 503 there.
    A POST outside Judge0 is cancelled when its client disconnects (a queued run leaves
    the queue); Judge0 submissions outlive their request, as in Judge0.
    """

    def __init__(self, app: ASGIApp, service: Service, metrics: Metrics,
                 judge0_segments: frozenset[str]) -> None:
        self.app = app
        settings = service.settings
        self.metrics = metrics
        self.keys = [k.encode() for k in settings.api_keys]
        self.users = [t.encode() for t in settings.judge0_auth_user_tokens]
        self.rate = (RateLimiter(settings.rate_limit, settings.rate_burst)
                     if settings.rate_limit > 0 else None)
        self.concurrency = (ConcurrencyLimiter(settings.key_concurrency)
                            if settings.key_concurrency > 0 else None)
        self.queue_timeout_s = settings.queue_timeout_s
        self.judge0_segments = judge0_segments

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if path in OPEN_PATHS:
            return await self.app(scope, receive, send)
        is_judge0 = path.split("/")[1] in self.judge0_segments
        headers = Headers(scope=scope)
        websocket = scope["type"] == "websocket"
        query = (parse_qs(scope.get("query_string", b"").decode("latin-1"))
                 if is_judge0 or websocket else {})

        if self.keys:
            key = _credential(headers, query, judge0=is_judge0, websocket=websocket)
            if key is None or not _matches(key, self.keys):
                return await self._refuse(scope, receive, send, "unauthorized", 401, None)
            client = "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]
        else:
            peer = scope.get("client")
            client = f"addr:{peer[0] if peer else 'unknown'}"
        if is_judge0 and judge0_auth.privileged(scope.get("method", ""), path):
            user = headers.get("x-auth-user") or next(iter(query.get("X-Auth-User", [])), None)
            if not self.users or not user or not _matches(user, self.users):
                return await self._refuse(scope, receive, send, "forbidden", 403, None)

        if self.rate is not None:
            wait = self.rate.take(client, time.monotonic())
            if wait > 0:
                return await self._refuse(scope, receive, send, "rate_limited", 429,
                                          max(1, math.ceil(wait)))
        if self.concurrency is not None and not self.concurrency.acquire(client):
            return await self._refuse(scope, receive, send, "key_concurrency", 429, 1)
        try:
            me = Caller(client, deadline=time.monotonic() + self.queue_timeout_s)
            token = caller.set(me)
            client_token = current_client.set(client)  # for every scheduler.submit
            try:
                if scope["type"] == "http" and scope["method"] == "POST" and not is_judge0:
                    await self._cancellable(scope, receive, send, me)
                else:
                    me.task = asyncio.current_task()
                    await self.app(scope, receive, send)
            finally:
                current_client.reset(client_token)
                caller.reset(token)
        finally:
            if self.concurrency is not None:
                self.concurrency.release(client)

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
            self.metrics.rejected.labels("client_gone").inc()
            log.info("client went away: request cancelled",
                     extra={"path": scope["path"], "client": me.client})
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str,
                      status: int, retry_after: int | None) -> None:
        self.metrics.rejected.labels(reason).inc()
        if scope["type"] == "websocket":
            # before the handshake is accepted, a close is an HTTP 403 to the client
            await send({"type": "websocket.close", "code": 1008 if status < 429 else 1013,
                        "reason": reason})
            return
        path: str = scope["path"]
        is_judge0 = path.split("/")[1] in self.judge0_segments
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        message = {
            "unauthorized": "an API key is required: Authorization: Bearer KEY, "
                            "X-Api-Key: KEY or (Judge0) X-Auth-Token: KEY",
            "forbidden": "this route needs a valid X-Auth-User",
            "rate_limited": f"too many requests: try again in {retry_after} s",
            "key_concurrency": "too many requests in progress for this client",
        }[reason]
        response: Response
        if is_judge0:
            if status in (401, 403):  # as Judge0: an empty body
                response = Response(status_code=status)
            else:  # Judge0's SDK cannot handle 429
                response = JSONResponse({"error": message}, status_code=503, headers=headers)
        elif path.startswith("/api/v2/"):
            response = JSONResponse({"message": message}, status_code=status, headers=headers)
        else:
            response = errors.error(status, reason, message, headers)
        await response(scope, receive, send)


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


class Background(set[asyncio.Task[Any]]):
    """The app's background tasks (async runs, Judge0 submissions); each one's failure is
    logged when it ends, not left for the garbage collector to complain about."""

    def add(self, task: asyncio.Task[Any]) -> None:
        super().add(task)
        task.add_done_callback(_ended)


def _ended(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if isinstance(exc, ShuttingDown):
        log.info("async run stopped by the shutdown: it runs again at the next start")
    elif exc is not None:
        log.error("async run failed", exc_info=exc)


class Shutdown:
    """Graceful shutdown. ``begin`` (the server calls it when it stops accepting; the
    lifespan otherwise): new runs are refused (503), queued sync requests are answered 503
    at once, runs in progress get ``shutdown_grace_s`` to finish, then whoever still waits
    is answered 503 (``ShuttingDown``). ``finish`` (the lifespan's end): stop the async runs
    that did not finish — stored in SQLite, put back to ``queued``, the next start runs
    them — and return; the owner then closes the Service, which tears the sandboxes down."""

    def __init__(self, app: FastAPI, service: Service) -> None:
        self._app = app
        self._service = service
        self._drain: asyncio.Task[int] | None = None

    @property
    def begun(self) -> bool:
        return self._drain is not None

    def begin(self) -> None:
        if self._drain is not None:
            return
        scheduler = self._service.scheduler
        grace = self._service.settings.shutdown_grace_s
        log.info("shutting down", extra={"running": scheduler.running,
                                         "queued": scheduler.depth, "grace_s": grace})
        self._drain = asyncio.get_running_loop().create_task(scheduler.drain(grace))

    async def finish(self) -> None:
        self.begin()
        assert self._drain is not None
        left = await self._drain
        if left:
            log.warning("runs still executing after the grace: their requests were answered "
                        "503; their sandboxes end at their own limits",
                        extra={"running": left})
        tasks = list(self._app.state.background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        requeued = self._service.runs.requeue_mine()
        log.info("shut down", extra={"requeued_runs": len(requeued),
                                     "still_running": self._service.scheduler.running})


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # runs a previous server left queued or running are queued again
        for run_id, request in service.runs.unfinished():
            if not judge0.resume(app, run_id, request):
                native.start_background(app, run_id, ExecuteRequest.model_validate(request))
        yield
        await app.state.shutdown.finish()

    settings = service.settings
    app = FastAPI(title="execbox", version=__version__, lifespan=lifespan,
                  description="Run untrusted code fast, behind layers of isolation.")
    app.state.service = service
    app.state.background = Background()
    app.state.metrics = metrics = Metrics(service)
    app.state.shutdown = Shutdown(app, service)
    errors.install(app)
    segments = _segments(judge0.router, judge0_auth.router)

    @app.exception_handler(ShuttingDown)
    async def shutting_down(request: Request, exc: ShuttingDown) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)}
        if request.url.path.split("/")[1] in segments:
            return JSONResponse({"error": str(exc)}, status_code=503, headers=headers)
        return errors.error(503, "shutting_down", str(exc), headers)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Gate, service=service, metrics=metrics, judge0_segments=segments)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
                           expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(AccessLog)  # outermost: every answer, refusals included

    app.include_router(native.router)
    app.include_router(interactive.router)
    app.include_router(piston.router)
    app.include_router(piston_connect.router)
    app.include_router(judge0_auth.router)
    app.include_router(judge0.router)
    native.FastExecute.install(app)
    return app
