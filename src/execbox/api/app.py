"""The ASGI application: FastAPI, the native routes, errors as JSON, a body size cap."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from execbox import __version__
from execbox.api import errors, native
from execbox.api.compat import judge0, piston
from execbox.api.metrics import Metrics
from execbox.api.models import ExecuteRequest
from execbox.service import Service

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


def _authorized(request: Request, keys: list[bytes]) -> bool:
    given = request.headers.get("x-api-key") or request.headers.get("x-auth-token")
    bearer = request.headers.get("authorization", "")
    if not given and bearer.lower().startswith("bearer "):
        given = bearer[7:].strip()
    if not given:
        return False
    candidate = given.encode()
    # compare against every key, in constant time each, so timing tells nothing
    return any([hmac.compare_digest(candidate, key) for key in keys])


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # runs a previous server left queued or running are queued again
        for run_id, request in service.runs.unfinished():
            if not judge0.resume(app, run_id, request):
                native.start_background(app, run_id, ExecuteRequest.model_validate(request))
        yield

    app = FastAPI(title="execbox", version=__version__, lifespan=lifespan,
                  description="Run untrusted code fast, behind layers of isolation.")
    app.state.service = service
    app.state.background = set()
    app.state.metrics = Metrics(service)
    errors.install(app)
    app.add_middleware(BodyLimit, limit=service.settings.max_body_bytes)

    keys = [k.encode() for k in service.settings.api_keys]
    if keys:
        @app.middleware("http")
        async def authenticate(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            if request.url.path in OPEN_PATHS or _authorized(request, keys):
                return await call_next(request)
            return errors.error(401, "unauthorized",
                                "an API key is required: Authorization: Bearer KEY, "
                                "X-Api-Key: KEY or (Judge0) X-Auth-Token: KEY")

    app.include_router(native.router)
    app.include_router(piston.router)
    app.include_router(judge0.router)
    return app
