"""Running a validated request through the scheduler, measured: shared by every API."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from execbox.api.metrics import Metrics, Stopwatch
from execbox.runner.runner import RunRequest, RunResult
from execbox.scheduler import Overloaded, ShuttingDown
from execbox.service import Service

log = logging.getLogger("execbox.run")


@dataclass(slots=True)
class Caller:
    """Who sent the request being served, set by the API's gate for each request: the
    client the scheduler is fair between, and the deadline of the request's queue wait.
    A task started by a request (an async run) inherits the client, not the deadline."""

    client: str
    deadline: float | None = None
    task: asyncio.Task[object] | None = None  # the request's own task


caller: ContextVar[Caller | None] = ContextVar("execbox_caller", default=None)


async def perform(service: Service, metrics: Metrics, run: RunRequest,
                  run_id: str | None = None, client: str = "", *, admitted: bool = False,
                  deadline: float | None = None) -> RunResult:
    """Run ``run`` when its turn comes. ``client`` defaults to the caller of the request
    being served; ``deadline`` (``time.monotonic()``) to that request's, when called from
    the request itself; ``admitted`` is for parts of a request already let in."""
    ctx = caller.get()
    if ctx is not None:
        client = client or ctx.client
        if deadline is None and ctx.task is asyncio.current_task():
            deadline = ctx.deadline
    ran = [0.0]

    def work() -> RunResult:
        watch = Stopwatch()
        try:
            return service.runner.run(run)
        finally:
            ran[0] = watch.lap()

    async def on_loop() -> RunResult | None:  # a warm run: no thread hop either way
        watch = Stopwatch()
        try:
            return await service.runner.run_async(run)
        finally:
            ran[0] = watch.lap()

    total = Stopwatch()
    try:
        result = await service.scheduler.submit(work, client=client, admitted=admitted,
                                                deadline=deadline, attempt=on_loop)
    except asyncio.CancelledError:
        run.stop.set()  # its client went away: a run on a worker thread ends now too
        raise
    except Overloaded:
        metrics.rejected.labels("overloaded").inc()
        raise
    except ShuttingDown as exc:
        run.stop.set()  # the grace is over: a run on a worker thread is killed now
        metrics.rejected.labels("shutting_down").inc()
        log.warning("run not done: the server is shutting down", extra={
            "run_id": run_id, "client": client or None, "language": run.language,
            "reason": str(exc)})
        raise
    queued = max(total.lap() - ran[0], 0.0)
    # counted and logged once its answer is out (afterwards.py)
    metrics.afterwards.add(_record, metrics, result, run_id, client, queued, ran[0])
    return result


def _record(metrics: Metrics, result: RunResult, run_id: str | None, client: str,
            queued: float, ran: float) -> None:
    metrics.observe(result, queued_s=queued, ran_s=ran)
    stage = result.run or result.compile
    log.info("run", extra={
        "run_id": run_id or str(uuid.uuid4()), "client": client or None,
        "language": result.language,
        "version": result.version, "status": result.status.value,
        "limit": stage.limit.value if stage and stage.limit else None,
        "queued_ms": round(queued * 1000, 2), "run_ms": round(ran * 1000, 2),
        "compile_cached": result.compile_cached})
