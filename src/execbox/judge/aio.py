"""The judge's tests as asynchronous jobs: each test is one ``submit(fn)`` of a scheduler,
so a request's tests use the free run slots in parallel and interleave with other
requests' runs. At most ``parallel`` of one request's tests are submitted at once (in test
order); with ``stop_on_failure`` a test that has not started when one fails is not run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from execbox.judge.judge import Judge, Plan, TestResult

T = TypeVar("T")


class Submit(Protocol):
    """Run a blocking function as a job (e.g. ``EmbeddedScheduler.submit``)."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


async def run_tests(judge: Judge, plan: Plan, submit: Submit,
                    parallel: int) -> list[TestResult | None]:
    """Every test of ``plan`` (None where stop_on_failure skipped one), in test order."""
    tests = plan.request.tests
    results: list[TestResult | None] = [None] * len(tests)
    if plan.done is not None:
        return results
    gate = asyncio.Semaphore(max(1, parallel))  # FIFO: tests start in their order
    stop = asyncio.Event()

    async def one(index: int) -> None:
        async with gate:
            if stop.is_set():
                return
            result = await submit(lambda: judge.run_test(plan, index))
            results[index] = result
            if plan.request.stop_on_failure and result.failed:
                stop.set()

    await asyncio.gather(*(one(i) for i in range(len(tests))))
    return results
