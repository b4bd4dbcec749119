"""The embedded scheduler: fairness across clients, back-pressure, cancellation, deadlines,
admitted parts and the drain. Real worker threads and a real event loop; the jobs block on
events the test sets, so the order of runs is decided by the scheduler alone."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from execbox.scheduler import Broker, EmbeddedScheduler, Overloaded, ShuttingDown


def _job(order: list[str], name: str, gate: threading.Event | None = None):
    def run() -> str:
        if gate is not None:
            assert gate.wait(10), "the test never opened the gate"
        order.append(name)
        return name

    return run


async def _until(predicate, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition never met"
        await asyncio.sleep(0.005)


async def _occupy(s: EmbeddedScheduler, order: list[str]):
    """Client A's run "A1" holds the only slot until the returned gate is set."""
    gate = threading.Event()
    running = asyncio.create_task(s.submit(_job(order, "A1", gate), client="A"))
    await _until(lambda: s.running == 1)
    return gate, running


def _scheduler(concurrency: int = 1, queue: int = 100, timeout: float = 30.0):
    return EmbeddedScheduler(concurrency, queue, timeout)


def test_it_is_a_broker():
    s = _scheduler()
    try:
        assert isinstance(s, Broker)
    finally:
        s.close()


def test_a_single_request_overtakes_another_clients_backlog():
    async def main() -> list[str]:
        s = _scheduler()
        order: list[str] = []
        gate = threading.Event()
        tasks = [asyncio.create_task(s.submit(_job(order, "A1", gate), client="A"))]
        await _until(lambda: s.running == 1)
        tasks += [asyncio.create_task(s.submit(_job(order, f"A{i}"), client="A"))
                  for i in range(2, 11)]
        await _until(lambda: s.depth == 9)
        tasks.append(asyncio.create_task(s.submit(_job(order, "B1"), client="B")))
        await _until(lambda: s.depth == 10)
        gate.set()
        results = await asyncio.gather(*tasks)
        s.close()
        assert sorted(results) == sorted(order)
        return order

    order = asyncio.run(main())
    # B's one run goes right after the run in progress, not after A's nine queued ones
    assert order[:2] == ["A1", "B1"]
    assert order[2:] == [f"A{i}" for i in range(2, 11)]  # each client's own FIFO


def test_clients_with_backlogs_take_turns():
    async def main() -> list[str]:
        s = _scheduler()
        order: list[str] = []
        gate = threading.Event()
        first = asyncio.create_task(s.submit(_job(order, "A1", gate), client="A"))
        await _until(lambda: s.running == 1)
        tasks = [first]
        for name in ("A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"):
            tasks.append(asyncio.create_task(s.submit(_job(order, name), client=name[0])))
            await _until(lambda n=len(tasks): s.depth == n - 1)
        gate.set()
        await asyncio.gather(*tasks)
        s.close()
        return order

    assert asyncio.run(main()) == ["A1", "B1", "C1", "A2", "B2", "C2", "A3", "B3", "C3"]


def test_a_full_queue_refuses_at_once_and_admitted_parts_bypass_it():
    async def main() -> None:
        s = _scheduler(concurrency=1, queue=1)
        order: list[str] = []
        gate, running = await _occupy(s, order)
        queued = asyncio.create_task(s.submit(_job(order, "A2"), client="A"))
        await _until(lambda: s.depth == 1)
        assert s.full()
        with pytest.raises(Overloaded) as refused:
            await s.submit(_job(order, "B1"), client="B")
        assert refused.value.retry_after_s >= 1
        # part of an admitted request: let in although the queue is full, still in turn
        part = asyncio.create_task(s.submit(_job(order, "B-part"), client="B", admitted=True))
        await _until(lambda: s.depth == 2)
        gate.set()
        await asyncio.gather(running, queued, part)
        s.close()
        assert order == ["A1", "B-part", "A2"]  # B had not been served: its turn came first
        assert "B1" not in order

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_the_queue_and_never_runs():
    async def main() -> None:
        s = _scheduler()
        order: list[str] = []
        gate, running = await _occupy(s, order)
        waiting = asyncio.create_task(s.submit(_job(order, "B1"), client="B"))
        after = asyncio.create_task(s.submit(_job(order, "C1"), client="C"))
        await _until(lambda: s.depth == 2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert s.depth == 1
        gate.set()
        await asyncio.gather(running, after)
        s.close()
        assert order == ["A1", "C1"]

    asyncio.run(main())


def test_a_cancelled_run_keeps_its_slot_until_its_thread_is_done():
    async def main() -> None:
        s = _scheduler()
        order: list[str] = []
        gate, running = await _occupy(s, order)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert s.running == 1  # the thread still runs it: the slot is not free
        nxt = asyncio.create_task(s.submit(_job(order, "B1"), client="B"))
        await _until(lambda: s.depth == 1)
        assert order == []
        gate.set()
        assert await nxt == "B1"
        s.close()
        assert order == ["A1", "B1"] and s.running == 0

    asyncio.run(main())


def test_deadlines_cover_the_queue_wait():
    async def main() -> None:
        s = _scheduler(timeout=0.2)
        order: list[str] = []
        gate, running = await _occupy(s, order)
        # an explicit deadline
        with pytest.raises(Overloaded):
            await s.submit(_job(order, "B1"), client="B", deadline=time.monotonic() + 0.05)
        assert s.depth == 0
        # the scheduler's queue timeout by default
        with pytest.raises(Overloaded, match="within"):
            await s.submit(_job(order, "B2"), client="B")
        assert s.depth == 0
        # a deadline already past: refused without waiting
        with pytest.raises(Overloaded, match="deadline"):
            await s.submit(_job(order, "B3"), client="B", deadline=time.monotonic() - 1)
        gate.set()
        await running
        s.close()
        assert order == ["A1"]

    asyncio.run(main())


def test_a_failing_job_raises_to_its_caller_and_frees_its_slot():
    def boom() -> None:
        raise ValueError("boom")

    async def main() -> None:
        s = _scheduler()
        with pytest.raises(ValueError, match="boom"):
            await s.submit(boom)
        assert s.running == 0 and not s.full()
        assert await s.submit(lambda: 42) == 42  # the old positional form still works
        s.close()

    asyncio.run(main())


def test_the_drain_refuses_new_and_queued_runs_then_fails_the_unfinished():
    async def main() -> None:
        s = _scheduler()
        order: list[str] = []
        gate = threading.Event()
        quick_gate = threading.Event()
        slow = asyncio.create_task(s.submit(_job(order, "slow", gate), client="A"))
        await _until(lambda: s.running == 1)
        queued = asyncio.create_task(s.submit(_job(order, "queued"), client="B"))
        await _until(lambda: s.depth == 1)
        s.stop_accepting()
        assert s.draining and s.full()
        with pytest.raises(ShuttingDown):
            await queued
        with pytest.raises(ShuttingDown):
            await s.submit(_job(order, "new"), client="C")
        # an admitted part of a request in progress is still taken
        part = asyncio.create_task(s.submit(_job(order, "part", quick_gate), admitted=True))
        await _until(lambda: s.depth == 1)
        left = await s.drain(0.1)
        assert left == 1  # "slow" still executes
        with pytest.raises(ShuttingDown, match="before this run finished"):
            await slow
        with pytest.raises(ShuttingDown, match="could start"):
            await part
        gate.set()
        quick_gate.set()
        s.close()
        assert order == ["slow"]

    asyncio.run(main())


def test_the_drain_waits_for_runs_that_finish_in_the_grace():
    async def main() -> None:
        s = _scheduler()
        order: list[str] = []
        gate = threading.Event()
        run = asyncio.create_task(s.submit(_job(order, "A1", gate), client="A"))
        await _until(lambda: s.running == 1)
        drain = asyncio.create_task(s.drain(10))
        await asyncio.sleep(0.05)
        assert not drain.done()
        gate.set()
        assert await drain == 0
        assert await run == "A1"
        s.close()

    asyncio.run(main())


def test_the_client_defaults_to_the_context():
    from execbox.scheduler import current_client

    async def main() -> list[str]:
        s = _scheduler()
        order: list[str] = []
        gate = threading.Event()

        async def as_client(name: str, job):
            current_client.set(name)  # what the API's gate does for each request
            return await s.submit(job)

        tasks = [asyncio.create_task(as_client("A", _job(order, "A1", gate)))]
        await _until(lambda: s.running == 1)
        tasks += [asyncio.create_task(as_client("A", _job(order, f"A{i}"))) for i in (2, 3)]
        await _until(lambda: s.depth == 2)
        tasks.append(asyncio.create_task(as_client("B", _job(order, "B1"))))
        await _until(lambda: s.depth == 3)
        gate.set()
        await asyncio.gather(*tasks)
        s.close()
        return order

    assert asyncio.run(main()) == ["A1", "B1", "A2", "A3"]


def test_an_attempt_on_the_loop_holds_a_slot_and_spares_the_thread():
    async def main() -> None:
        s = _scheduler(concurrency=1)
        order: list[str] = []
        release = asyncio.Event()
        seen: list[int] = []

        async def on_loop() -> str:
            seen.append(s.running)
            await release.wait()
            return "loop"

        first = asyncio.create_task(s.submit(_job(order, "thread"), client="A",
                                             attempt=on_loop))
        await _until(lambda: seen == [1])
        second = asyncio.create_task(s.submit(_job(order, "B1"), client="B"))
        await asyncio.sleep(0.05)
        assert s.depth == 1 and order == []  # the attempt holds the only slot
        release.set()
        assert await first == "loop" and await second == "B1"
        assert order == ["B1"] and s.running == 0  # the thread never ran A's job
        s.close()

    asyncio.run(main())


def test_an_attempt_that_cannot_leaves_its_slot_to_the_thread():
    async def main() -> None:
        s = _scheduler(concurrency=1)
        order: list[str] = []

        async def cannot() -> str | None:
            return None

        async def fails() -> str | None:
            raise RuntimeError("attempt broke")

        assert await s.submit(_job(order, "A1"), client="A", attempt=cannot) == "A1"
        with pytest.raises(RuntimeError, match="attempt broke"):
            await s.submit(_job(order, "A2"), client="A", attempt=fails)
        assert order == ["A1"] and s.running == 0
        assert await s.submit(_job(order, "A3"), client="A") == "A3"  # the slot is free
        s.close()

    asyncio.run(main())


def test_the_drain_ends_an_attempt_past_its_grace_with_shutting_down():
    async def main() -> None:
        s = _scheduler(concurrency=1)
        ended: list[str] = []

        async def forever() -> str:
            try:
                await asyncio.sleep(60)
            finally:
                ended.append("ended")  # a warm run kills its program here
            return "never"

        run = asyncio.create_task(s.submit(lambda: "thread", client="A", attempt=forever))
        await _until(lambda: s.running == 1)
        assert await s.drain(0.1) == 0
        with pytest.raises(ShuttingDown):
            await run
        assert ended == ["ended"] and s.running == 0
        s.close()

    asyncio.run(main())


def test_under_load_runs_go_to_the_threads_not_the_loop():
    async def main() -> None:
        s = _scheduler(concurrency=1)
        order: list[str] = []
        on_loop: list[str] = []

        def attempt(name: str):
            async def run() -> str:
                on_loop.append(name)
                return name

            return run

        gate, first = await _occupy(s, order)
        b = asyncio.create_task(s.submit(_job(order, "B"), client="B", attempt=attempt("B")))
        c = asyncio.create_task(s.submit(_job(order, "C"), client="C", attempt=attempt("C")))
        await _until(lambda: s.depth == 2)
        gate.set()
        assert await first == "A1" and await b == "B" and await c == "C"
        # B started while C still waited: on a thread; C with nobody waiting: on the loop
        assert order == ["A1", "B"] and on_loop == ["C"]
        s.close()

    asyncio.run(main())
