"""The embedded scheduler: at most ``concurrency`` runs at once, at most ``queue`` waiting,
and the waiting ones served fairly across clients.

Each client (an API key, or the remote address when there are no keys) has its own FIFO
queue. When a slot frees it goes to the waiting client with the fewest runs executing,
then the one served longest ago: a client that queued a hundred runs delays another
client's single run by at most one turn, not by a hundred runs.

A request that finds the queue full is refused at once (``Overloaded``: 503 with
Retry-After); one whose deadline (default: ``queue_timeout_s`` from now) passes while it
waits is refused too; nothing waits forever. A caller cancelled while it waits (its HTTP
client went away) leaves the queue. Runs are blocking calls (the runner forks and
supervises), so each runs on a worker thread while the event loop stays free; a slot is
freed when its thread is done, even if nobody waits for the result any more. A run that
can be done on the loop itself (``attempt``: a warm run, supervised with the loop's
readers and timers) is done there first while nobody waits in the queue: no hop to a
worker thread and back. Under load (somebody waits) runs go to the threads, whose
system calls (cgroup writes, pipes) then overlap the loop's work for the other requests:
~3 % more requests a second with 16 clients on the benchmark's machine.

Shutdown: ``drain`` refuses new runs, drops the queued ones, waits for the running ones
up to a grace, then fails whoever still waits (``ShuttingDown``) so every request gets an
answer (a run on the loop is killed then and its caller answered ShuttingDown).
Satisfies ``broker.Broker``; all methods but ``close`` run on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from execbox.scheduler.broker import Overloaded, ShuttingDown, current_client

T = TypeVar("T")


class _Waiter:
    __slots__ = ("admitted", "client", "future")

    def __init__(self, client: str, admitted: bool, future: asyncio.Future[None]) -> None:
        self.client = client
        self.admitted = admitted
        self.future = future


class EmbeddedScheduler:
    def __init__(self, concurrency: int, queue: int, queue_timeout_s: float = 30.0) -> None:
        if concurrency < 1 or queue < 0 or queue_timeout_s <= 0:
            raise ValueError("concurrency must be >= 1, queue >= 0 and queue_timeout_s > 0")
        self.concurrency = concurrency
        self.queue_limit = queue
        self.queue_timeout_s = queue_timeout_s
        self._free = concurrency
        self._running = 0
        self._waiting = 0
        self._queues: dict[str, deque[_Waiter]] = {}  # clients with waiters, in arrival order
        self._running_by: dict[str, int] = {}
        self._served: dict[str, int] = {}  # client -> tick of its last grant
        self._ticks = itertools.count(1)
        self._results: set[asyncio.Future[Any]] = set()  # callers of executing runs
        self._inline: set[asyncio.Task[Any]] = set()  # callers running an attempt
        self._cut: set[asyncio.Task[Any]] = set()  # those the drain cancelled
        self._draining = False
        self._executor = ThreadPoolExecutor(max_workers=concurrency,
                                            thread_name_prefix="execbox-run")

    @property
    def depth(self) -> int:
        """Requests waiting for a free slot."""
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    @property
    def draining(self) -> bool:
        return self._draining

    def full(self) -> bool:
        """A new run would be refused: every slot busy and the queue at its limit, or the
        scheduler is draining."""
        return self._draining or (self._free == 0 and self._waiting >= self.queue_limit)

    async def submit(self, fn: Callable[[], T], *, client: str = "", admitted: bool = False,
                     deadline: float | None = None,
                     attempt: Callable[[], Awaitable[T | None]] | None = None) -> T:
        loop = asyncio.get_running_loop()
        client = client or current_client.get()
        if self._draining and not admitted:
            raise ShuttingDown("the server is shutting down: no new runs")
        if not admitted and self.full():
            raise Overloaded(f"{self._running} runs in progress and {self._waiting} queued: "
                             "the queue is full", retry_after_s=1)
        if deadline is None and not admitted:
            deadline = time.monotonic() + self.queue_timeout_s
        if deadline is not None and deadline <= time.monotonic():
            raise Overloaded("the request's deadline passed before it could run",
                             retry_after_s=1)
        if self._free > 0 and not self._queues:
            self._take(client)
        else:
            await self._wait_turn(loop, client, admitted, deadline)
        # this caller holds a slot now; the worker thread gives it back when done
        if attempt is not None and self._waiting == 0:  # under load: threads (below)
            out = await self._attempt(attempt, client)
            if out is not None:
                return out
        result: asyncio.Future[T] = loop.create_future()
        try:
            job = self._executor.submit(fn)
        except RuntimeError as exc:  # the executor is shut down
            self._release(client)
            raise ShuttingDown("the server is shutting down: no new runs") from exc
        self._results.add(result)

        def finished(done: concurrent.futures.Future[T]) -> None:
            try:
                loop.call_soon_threadsafe(self._finished, client, done, result)
            except RuntimeError:  # the loop is closed: nobody is left to tell
                pass

        job.add_done_callback(finished)
        try:
            return await result
        finally:
            self._results.discard(result)

    async def _attempt(self, attempt: Callable[[], Awaitable[T | None]], client: str,
                       ) -> T | None:
        """``attempt`` on the loop, the caller's slot held: given back when it returns,
        unless it returned None (then the slot is the worker thread's). Cut short by the
        drain at the end of its grace: ShuttingDown (the attempt, cancelled, ends its run)."""
        task = asyncio.current_task()
        assert task is not None
        self._inline.add(task)
        try:
            out = await attempt()
        except BaseException as exc:
            self._release(client)
            if isinstance(exc, asyncio.CancelledError) and task in self._cut:
                task.uncancel()
                raise ShuttingDown("the server shut down before this run finished") from None
            raise
        finally:
            self._inline.discard(task)
            self._cut.discard(task)
        if out is not None:
            self._release(client)
        return out

    async def _wait_turn(self, loop: asyncio.AbstractEventLoop, client: str, admitted: bool,
                         deadline: float | None) -> None:
        waiter = _Waiter(client, admitted, loop.create_future())
        self._queues.setdefault(client, deque()).append(waiter)
        self._waiting += 1
        timer = None
        if deadline is not None:
            delay = max(deadline - time.monotonic(), 0.0)
            timer = loop.call_later(delay, self._expire, waiter, math.ceil(delay))
        try:
            await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self._release(client)  # granted a slot just as the caller went away
            else:
                self._forget(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _take(self, client: str) -> None:
        self._free -= 1
        self._running += 1
        self._running_by[client] = self._running_by.get(client, 0) + 1
        self._served[client] = next(self._ticks)

    def _release(self, client: str) -> None:
        self._free += 1
        self._running -= 1
        left = self._running_by.get(client, 1) - 1
        if left:
            self._running_by[client] = left
        else:
            self._running_by.pop(client, None)
            if client not in self._queues:
                self._served.pop(client, None)
        self._grant()

    def _grant(self) -> None:
        """Hand free slots to waiting clients: fewest running first, then least recently
        served, then first arrived."""
        while self._free > 0 and self._queues:
            client = min(self._queues, key=lambda c: (self._running_by.get(c, 0),
                                                      self._served.get(c, 0)))
            queue = self._queues[client]
            waiter = queue.popleft()
            if not queue:
                del self._queues[client]
            self._waiting -= 1
            if waiter.future.done():  # cancelled; its caller has not resumed yet
                continue
            self._take(client)
            waiter.future.set_result(None)

    def _forget(self, waiter: _Waiter) -> None:
        """Take a waiter out of its queue (cancelled, expired or dropped)."""
        queue = self._queues.get(waiter.client)
        if queue is None or waiter not in queue:
            return
        queue.remove(waiter)
        self._waiting -= 1
        if not queue:
            del self._queues[waiter.client]
            if waiter.client not in self._running_by:
                self._served.pop(waiter.client, None)

    def _expire(self, waiter: _Waiter, waited_s: int) -> None:
        if waiter.future.done():
            return
        self._forget(waiter)
        waiter.future.set_exception(Overloaded(
            f"no run slot free within {waited_s} s", retry_after_s=2))

    def _finished(self, client: str, job: concurrent.futures.Future[T],
                  result: asyncio.Future[T]) -> None:
        self._release(client)
        if result.done():  # the caller went away, or the drain answered it already
            return
        if job.cancelled():
            result.cancel()
        elif (exc := job.exception()) is not None:
            result.set_exception(exc)
        else:
            result.set_result(job.result())

    def stop_accepting(self) -> None:
        if self._draining:
            return
        self._draining = True
        for queue in list(self._queues.values()):
            for waiter in [w for w in queue if not w.admitted]:
                self._forget(waiter)
                if not waiter.future.done():
                    waiter.future.set_exception(ShuttingDown(
                        "the server is shutting down: this run was queued, not started"))

    async def drain(self, timeout_s: float) -> int:
        self.stop_accepting()
        end = time.monotonic() + max(timeout_s, 0.0)
        while (self._running or self._waiting) and time.monotonic() < end:
            await asyncio.sleep(0.02)
        for queue in list(self._queues.values()):
            for waiter in list(queue):
                self._forget(waiter)
                if not waiter.future.done():
                    waiter.future.set_exception(ShuttingDown(
                        "the server shut down before this run could start"))
        for result in list(self._results):
            if not result.done():
                result.set_exception(ShuttingDown(
                    f"the server shut down before this run finished (grace {timeout_s:g} s)"))
        for task in list(self._inline):  # runs on the loop: ended, answered ShuttingDown
            self._cut.add(task)
            task.cancel()
        while self._inline:
            await asyncio.sleep(0.01)
        return self._running

    def close(self) -> None:
        """Wait for the runs still executing (each ends at its limits, or sooner when its
        caller stopped it) and stop the worker threads."""
        self._draining = True
        self._executor.shutdown(wait=True)
