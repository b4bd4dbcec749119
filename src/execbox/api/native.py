"""The native API, v1: execute, languages, health. Translation only."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from execbox.api.execution import perform
from execbox.api.metrics import Metrics
from execbox.api.models import ExecuteRequest
from execbox.errors import ConfigError
from execbox.runner.runner import RunRequest, RunResult
from execbox.scheduler import Overloaded
from execbox.service import Service

router = APIRouter()


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _run_request(service: Service, body: ExecuteRequest) -> RunRequest:
    """Validate everything a sandbox would only find out later (ConfigError → 400)."""
    if body.tests is not None or body.checker is not None:
        raise ConfigError("tests and checkers are not supported by this server yet")
    lang = service.registry.get(body.language, body.version)
    run = RunRequest(
        language=lang.name, version=lang.version,
        files=body.sandbox_files(lang.source), stdin=body.stdin.encode(),
        args=tuple(body.args), env=body.env,
        limits=body.limits.given() if body.limits else {},
        compile_limits=body.compile_limits.given() if body.compile_limits else {})
    service.runner.check(run)
    return run


def _answer(run_id: str, result: RunResult) -> dict[str, Any]:
    return {"id": run_id, **result.as_json(), "tests": None, "verdict": None}


@router.post("/v1/execute", summary="Compile and run a program, wait for the result")
@router.post("/execute", include_in_schema=False)
async def execute(body: ExecuteRequest, request: Request) -> dict[str, Any]:
    service = _service(request)
    run = _run_request(service, body)
    run_id = str(uuid.uuid4())
    return _answer(run_id, await perform(service, request.app.state.metrics, run, run_id))


@router.post("/v1/runs", status_code=202, summary="Queue a run; fetch it with GET /v1/runs/{id}")
async def submit_run(body: ExecuteRequest, request: Request) -> dict[str, Any]:
    service = _service(request)
    _run_request(service, body)  # refuse bad input now, not later
    if service.scheduler.full():
        raise Overloaded("the queue is full", retry_after_s=1)
    run_id = str(uuid.uuid4())
    service.runs.add(run_id, body.model_dump())
    start_background(request.app, run_id, body)
    return {"id": run_id, "state": "queued"}


@router.get("/v1/runs/{run_id}", summary="A queued run: its state, and its result when done")
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    answer = _service(request).runs.get(run_id)
    if answer is None:
        raise HTTPException(404, f"no run {run_id}")
    return answer


def start_background(app: Any, run_id: str, body: ExecuteRequest) -> None:
    """Run a stored request to its end; it waits for room rather than failing."""
    service: Service = app.state.service
    metrics: Metrics = app.state.metrics

    async def go() -> None:
        try:
            run = _run_request(service, body)
        except ConfigError as exc:  # e.g. a language gone since a restart
            service.runs.finish(run_id, {"error": {"code": "invalid_request",
                                                   "message": str(exc)}})
            return
        service.runs.start(run_id)
        while True:
            try:
                result = await perform(service, metrics, run, run_id)
                break
            except Overloaded as exc:
                await asyncio.sleep(exc.retry_after_s)
        service.runs.finish(run_id, _answer(run_id, result))

    task = asyncio.create_task(go())
    tasks: set[asyncio.Task[None]] = app.state.background
    tasks.add(task)
    task.add_done_callback(tasks.discard)


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
