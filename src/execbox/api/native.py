"""The native API, v1: execute, languages, health. Translation only."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from execbox.api.metrics import Metrics, Stopwatch
from execbox.api.models import ExecuteRequest
from execbox.errors import ConfigError
from execbox.runner.runner import RunRequest, RunResult
from execbox.scheduler import Overloaded
from execbox.service import Service

router = APIRouter()


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


@router.post("/v1/execute", summary="Compile and run a program, wait for the result")
@router.post("/execute", include_in_schema=False)
async def execute(body: ExecuteRequest, request: Request) -> dict[str, Any]:
    service = _service(request)
    if body.tests is not None or body.checker is not None:
        raise ConfigError("tests and checkers are not supported by this server yet")
    lang = service.registry.get(body.language, body.version)
    run = RunRequest(
        language=lang.name, version=lang.version,
        files=body.sandbox_files(lang.source), stdin=body.stdin.encode(),
        args=tuple(body.args), env=body.env,
        limits=body.limits.given() if body.limits else {},
        compile_limits=body.compile_limits.given() if body.compile_limits else {})
    # limits are checked before the request may queue: bad input never reaches a sandbox
    service.runner.check(run)
    metrics: Metrics = request.app.state.metrics
    ran = [0.0]

    def work() -> RunResult:
        watch = Stopwatch()
        try:
            return service.runner.run(run)
        finally:
            ran[0] = watch.lap()

    total = Stopwatch()
    try:
        result = await service.scheduler.submit(work)
    except Overloaded:
        metrics.rejected.labels("overloaded").inc()
        raise
    metrics.observe(result, queued_s=max(total.lap() - ran[0], 0.0), ran_s=ran[0])
    return {"id": str(uuid.uuid4()), **result.as_json(), "tests": None, "verdict": None}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/languages", summary="The languages this server runs")
async def languages(request: Request) -> list[dict[str, Any]]:
    return [{"name": lang.name, "version": lang.version, "aliases": list(lang.aliases),
             "compiled": lang.compiled, "extensions": list(lang.extensions)}
            for lang in _service(request).registry.available()]


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Warm sandboxes are ready and the queue has room")
async def readyz(request: Request) -> JSONResponse:
    service = _service(request)
    scheduler = service.scheduler
    ready = service.ready() and scheduler.depth < scheduler.queue_limit
    body = {"status": "ready" if ready else "not_ready", "running": scheduler.running,
            "queued": scheduler.depth}
    return JSONResponse(body, status_code=200 if ready else 503)
