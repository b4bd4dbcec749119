"""Running a validated request through the scheduler, measured: shared by every API."""

from __future__ import annotations

from execbox.api.metrics import Metrics, Stopwatch
from execbox.runner.runner import RunRequest, RunResult
from execbox.scheduler import Overloaded
from execbox.service import Service


async def perform(service: Service, metrics: Metrics, run: RunRequest) -> RunResult:
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
    return result
