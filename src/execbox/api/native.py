"""The native API, v1: execute, languages, health. Translation only; a request with
``tests`` is judged by ``execbox.judge``, its compile and each test as scheduler jobs."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from execbox.api.execution import perform
from execbox.api.metrics import Metrics, Stopwatch
from execbox.api.models import (
    ExecuteRequest,
    FloatCheckerIn,
    ProgramCheckerIn,
    ProgramIn,
    TextCheckerIn,
)
from execbox.errors import ConfigError
from execbox.judge import (
    BuiltinChecker,
    CheckerProgram,
    Judge,
    JudgeRequest,
    JudgeResult,
    JudgeSettings,
    TestCase,
    TestResult,
)
from execbox.judge.aio import run_tests
from execbox.runner.runner import RunRequest, RunResult
from execbox.scheduler import Overloaded, ShuttingDown
from execbox.service import Service

router = APIRouter()
T = TypeVar("T")
log = logging.getLogger("execbox.run")
Job = RunRequest | JudgeRequest  # a plain run, or a judged one (with tests)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _judge(service: Service) -> Judge:
    settings = getattr(service.settings, "judge", None)
    return Judge(service.runner, settings if isinstance(settings, JudgeSettings) else None)


def run_request(service: Service, body: ExecuteRequest) -> RunRequest:
    """Validate everything a sandbox would only find out later (ConfigError → 400); the
    program of ``body`` (its ``tests``, if any, left to ``_job``)."""
    lang = service.registry.get(body.language, body.version)
    run = RunRequest(
        language=lang.name, version=lang.version,
        files=body.sandbox_files(lang.source), stdin=body.stdin.encode(),
        args=tuple(body.args), env=body.env,
        limits=body.limits.given() if body.limits else {},
        compile_limits=body.compile_limits.given() if body.compile_limits else {})
    if body.tests is None and (body.checker is not None or body.stop_on_failure
                               or body.interactor is not None):
        raise ConfigError("checker, interactor and stop_on_failure need tests")
    service.runner.check(run)
    return run


def resolve_job(service: Service, body: ExecuteRequest) -> Job:
    """The validated request: a plain run, or (with ``tests``) a judged one."""
    run = run_request(service, body)
    if body.tests is None:
        return run
    if body.stdin:
        raise ConfigError("with tests, give each test its stdin (not a top-level stdin)")
    judged = JudgeRequest(
        run=run, stop_on_failure=body.stop_on_failure,
        tests=tuple(TestCase(name=t.name or str(i + 1), stdin=t.stdin.encode(),
                             expected=None if t.expected_output is None
                             else t.expected_output.encode())
                    for i, t in enumerate(body.tests)),
        checker=_checker(service, body.checker),
        interactor=_program(service, body.interactor) if body.interactor else None)
    _judge(service).check(judged)
    return judged


def _checker(service: Service,
             spec: str | TextCheckerIn | FloatCheckerIn | ProgramCheckerIn | None,
             ) -> BuiltinChecker | CheckerProgram:
    if spec is None:
        return BuiltinChecker()
    if isinstance(spec, str):
        return BuiltinChecker(spec)
    if isinstance(spec, ProgramCheckerIn):
        return CheckerProgram(_program(service, spec))
    return BuiltinChecker(spec.type, spec.options())


def _program(service: Service, spec: ProgramIn) -> RunRequest:
    lang = service.registry.get(spec.language, spec.version)
    return RunRequest(
        language=lang.name, version=lang.version, files=spec.sandbox_files(lang.source),
        limits=spec.limits.given() if spec.limits else {},
        compile_limits=spec.compile_limits.given() if spec.compile_limits else {})


async def perform_job(service: Service, metrics: Metrics, job: Job,
                   run_id: str) -> dict[str, Any]:
    if isinstance(job, RunRequest):
        result = await perform(service, metrics, job, run_id)
        return {"id": run_id, **result.as_json(), "tests": None, "verdict": None}
    judged = await perform_judge(service, metrics, job, run_id)
    return {"id": run_id, **judged.as_json()}


async def perform_judge(service: Service, metrics: Metrics, request: JudgeRequest,
                        run_id: str) -> JudgeResult:
    """Compile once (one scheduler job: refused with Overloaded when full), then each test
    as its own job; those wait for room rather than failing, the request being admitted.
    Its client gone or the shutdown's grace over, its sandboxes are killed (``stop``)."""
    try:
        return await _perform_judge(service, metrics, request, run_id)
    except (asyncio.CancelledError, ShuttingDown):
        request.run.stop.set()
        raise


async def _perform_judge(service: Service, metrics: Metrics, request: JudgeRequest,
                         run_id: str) -> JudgeResult:
    judge = _judge(service)
    total = Stopwatch()
    try:
        plan = await service.scheduler.submit(lambda: judge.prepare(request))
    except Overloaded:
        metrics.rejected.labels("overloaded").inc()
        raise
    lang = plan.solution.language
    if plan.done is not None:
        seconds = total.lap()
        metrics.observe(RunResult(lang.name, lang.version, plan.done.status,
                                  plan.done.compile, None), queued_s=0.0, ran_s=seconds)
        _log(run_id, plan.done, seconds)
        return plan.done

    async def admitted(fn: Callable[[], T]) -> T:
        ran = [0.0]

        def work() -> T:
            watch = Stopwatch()
            try:
                return fn()
            finally:
                ran[0] = watch.lap()

        waited = Stopwatch()
        out = await service.scheduler.submit(work, admitted=True)  # past the queue's cap
        if isinstance(out, TestResult) and out.run is not None:
            metrics.observe(RunResult(lang.name, lang.version, out.run.status, None, out.run),
                            queued_s=max(waited.lap() - ran[0], 0.0), ran_s=ran[0])
        return out

    # each test waits its fair turn among every client's runs; as part of a request
    # admitted with its compile, none is refused for a full queue
    results = await run_tests(judge, plan, admitted, service.scheduler.concurrency)
    result = judge.finish(plan, results)
    _log(run_id, result, total.lap())
    return result


def _log(run_id: str, result: JudgeResult, seconds: float) -> None:
    log.info("judged", extra={
        "run_id": run_id, "language": result.language, "version": result.version,
        "status": result.status.value, "verdict": result.verdict.value,
        "tests": len(result.tests),
        "failed": sum(1 for t in result.tests if t.failed),
        "skipped": sum(1 for t in result.tests if t.verdict is None),
        "total_ms": round(seconds * 1000, 2), "compile_cached": result.compile_cached})


_RESULT = {200: {"description": "The result (a judged request's with its tests)",
                 "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.post("/v1/execute", summary="Compile and run a program (or judge it on tests), wait",
             response_class=Response, responses=_RESULT)  # type: ignore[arg-type]
@router.post("/execute", include_in_schema=False, response_class=Response)
async def execute(body: ExecuteRequest, request: Request) -> Response:
    service = _service(request)
    job = resolve_job(service, body)
    return Response(await answer(service, request.app.state.metrics, job),
                    media_type="application/json")


async def answer(service: Service, metrics: Metrics, job: Job) -> bytes:
    """Run ``job`` under a new run id; its answer's JSON. Serialised here, once: FastAPI
    would validate the dict against dict[str, Any], walk it with jsonable_encoder and
    serialise it again (~0.1 ms a run)."""
    done = await perform_job(service, metrics, job, str(uuid.uuid4()))
    return json.dumps(done, separators=(",", ":")).encode()


@router.post("/v1/runs", status_code=202, summary="Queue a run; fetch it with GET /v1/runs/{id}")
async def submit_run(body: ExecuteRequest, request: Request) -> dict[str, Any]:
    service = _service(request)
    resolve_job(service, body)  # refuse bad input now, not later
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
            job = resolve_job(service, body)
        except ConfigError as exc:  # e.g. a language gone since a restart
            service.runs.finish(run_id, {"error": {"code": "invalid_request",
                                                   "message": str(exc)}})
            return
        service.runs.start(run_id)
        while True:
            try:
                answer = await perform_job(service, metrics, job, run_id)
                break
            except Overloaded as exc:
                await asyncio.sleep(exc.retry_after_s)
        service.runs.finish(run_id, answer)

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
