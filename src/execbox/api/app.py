"""The ASGI application: FastAPI, the native routes, errors as JSON, a body size cap."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from execbox import __version__
from execbox.api import errors, native
from execbox.api.compat import judge0, piston
from execbox.api.metrics import Metrics
from execbox.api.models import ExecuteRequest
from execbox.service import Service

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


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
    limit = service.settings.max_body_bytes

    @app.middleware("http")
    async def body_limit(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return errors.error(413, "body_too_large",
                                f"the body is over {limit} bytes")
        if request.method in ("POST", "PUT", "PATCH"):
            body = await request.body()  # cached by Starlette for the handler
            if len(body) > limit:
                return errors.error(413, "body_too_large", f"the body is over {limit} bytes")
        return await call_next(request)

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
