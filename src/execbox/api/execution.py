"""Running a validated request through the scheduler, measured: shared by every API."""

from __future__ import annotations

import logging
import uuid

from execbox.api.metrics import Metrics, Stopwatch
from execbox.runner.runner import RunRequest, RunResult
from execbox.scheduler import Overloaded
from execbox.service import Service

log = logging.getLogger("execbox.run")


async def perform(service: Service, metrics: Metrics, run: RunRequest,
                  run_id: str | None = None) -> RunResult:
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
    queued = max(total.lap() - ran[0], 0.0)
    metrics.observe(result, queued_s=queued, ran_s=ran[0])
    stage = result.run or result.compile
    log.info("run", extra={
        "run_id": run_id or str(uuid.uuid4()), "language": result.language,
        "version": result.version, "status": result.status.value,
        "limit": stage.limit.value if stage and stage.limit else None,
        "queued_ms": round(queued * 1000, 2), "run_ms": round(ran[0] * 1000, 2),
        "compile_cached": result.compile_cached})
    return result
