"""The ASGI application: FastAPI, the native and compatible routes, errors as JSON, and the
operations around them (outermost first):

- an access log line per request, once its answer is out;
- CORS for the configured origins (preflights answered before any key is asked for);
- the gate (gate.py): API keys (and Judge0's X-Auth-Token / X-Auth-User), per-client
  rate and concurrency limits, the client identity and deadline the scheduler uses, and
  the cancellation of a request whose client went away;
- a body size cap;
- graceful shutdown in the lifespan (``Shutdown``).

In front of it all, the fast lane (fast_lane.py) answers a plainly valid
``POST /v1/execute`` itself, with the same gate, log line and answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from execbox import __version__
from execbox.api import errors, interactive, native
from execbox.api.afterwards import Afterwards
from execbox.api.compat import judge0, judge0_auth, piston, piston_connect
from execbox.api.fast_lane import FastLane
from execbox.api.gate import Admission, Gate, segments
from execbox.api.logs import logged
from execbox.api.metrics import Metrics
from execbox.api.models import ExecuteRequest
from execbox.scheduler import ShuttingDown
from execbox.service import Service

log = logging.getLogger("execbox.api")


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
    """One JSON line per HTTP request (``execbox.access``), written once its answer is out
    (logs.logged, afterwards.py). uvicorn's own access line (turned off: serve_cmd) was
    written between an answer's head and its body, on the answer's path: 0.1 to 0.3 ms of
    every answer on the benchmark's machine (paired runs with and without it)."""

    def __init__(self, app: ASGIApp, afterwards: Afterwards) -> None:
        self.app = app
        self.afterwards = afterwards

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        await self.app(scope, receive, logged(scope, send, time.perf_counter(),
                                              self.afterwards.add))


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
        metrics.afterwards.flush()

    settings = service.settings
    app = FastAPI(title="execbox", version=__version__, lifespan=lifespan,
                  description="Run untrusted code fast, behind layers of isolation.")
    app.state.service = service
    app.state.background = Background()
    app.state.metrics = metrics = Metrics(service)
    app.state.shutdown = Shutdown(app, service)
    errors.install(app)
    admission = Admission(settings, metrics, segments(judge0.router, judge0_auth.router))

    @app.exception_handler(ShuttingDown)
    async def shutting_down(request: Request, exc: ShuttingDown) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)}
        if admission.is_judge0(request.url.path):
            return JSONResponse({"error": str(exc)}, status_code=503, headers=headers)
        return errors.error(503, "shutting_down", str(exc), headers)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Gate, admission=admission)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
                           expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(AccessLog, afterwards=metrics.afterwards)  # every answer
    # outermost (but Starlette's 500 layer): the plainly valid POST /v1/execute
    app.add_middleware(FastLane, api=app, service=service, metrics=metrics,
                       admission=admission)

    app.include_router(native.router)
    app.include_router(interactive.router)
    app.include_router(piston.router)
    app.include_router(piston_connect.router)
    app.include_router(judge0_auth.router)
    app.include_router(judge0.router)
    return app
