"""The embedded scheduler: at most ``concurrency`` runs at once, at most ``queue`` waiting.

A request that finds the queue full is refused at once (``Overloaded``, which the API turns
into 503 with Retry-After), and one that waits longer than ``queue_timeout_s`` for its turn
is refused too; nothing waits forever. Runs are blocking calls (the runner forks and
supervises), so each runs on a worker thread while the event loop stays free. A broker for
many machines (RabbitMQ) can replace this class behind the same ``submit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from execbox.errors import ExecboxError

T = TypeVar("T")


class Overloaded(ExecboxError):
    """No capacity now; try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EmbeddedScheduler:
    def __init__(self, concurrency: int, queue: int, queue_timeout_s: float = 30.0) -> None:
        if concurrency < 1 or queue < 0:
            raise ValueError("concurrency must be >= 1 and queue >= 0")
        self.concurrency = concurrency
        self.queue_limit = queue
        self.queue_timeout_s = queue_timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting = 0
        self._running = 0
        self._executor = ThreadPoolExecutor(max_workers=concurrency,
                                            thread_name_prefix="execbox-run")

    @property
    def depth(self) -> int:
        """Requests waiting for a free slot."""
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    def full(self) -> bool:
        """Every slot busy and the queue at its limit: a new run would be refused."""
        return self._slots.locked() and self._waiting >= self.queue_limit

    async def submit(self, fn: Callable[[], T]) -> T:
        if self.full():
            raise Overloaded(f"{self._running} runs in progress and {self._waiting} queued: "
                             "the queue is full", retry_after_s=1)
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.queue_timeout_s)
        except TimeoutError as exc:
            raise Overloaded(f"no run slot free within {self.queue_timeout_s:g} s",
                             retry_after_s=2) from exc
        finally:
            self._waiting -= 1
        self._running += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            self._running -= 1
            self._slots.release()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
