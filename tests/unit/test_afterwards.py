"""Bookkeeping after an answer (api/afterwards.py): later, in one batch, never lost."""

from __future__ import annotations

import asyncio
import logging

from execbox.api.afterwards import Afterwards


def test_calls_wait_for_the_delay_then_run_in_order():
    async def main() -> list[str]:
        later = Afterwards()
        done: list[str] = []
        later.add(done.append, "access")
        later.add(done.append, "run")
        assert done == []  # the answer's client gets the CPU first
        await asyncio.sleep(Afterwards.DELAY_S * 5)
        return done

    assert asyncio.run(main()) == ["access", "run"]


def test_a_flush_runs_what_is_pending_now_and_once():
    async def main() -> list[int]:
        later = Afterwards()
        done: list[int] = []
        later.add(done.append, 1)
        later.flush()  # a scrape, the shutdown
        assert done == [1]
        await asyncio.sleep(Afterwards.DELAY_S * 5)
        return done

    assert asyncio.run(main()) == [1]


def test_without_a_loop_it_runs_at_once():
    done: list[int] = []
    Afterwards().add(done.append, 1)
    assert done == [1]


def test_a_failing_call_is_logged_and_the_rest_still_run(caplog):
    def broken() -> None:
        raise ValueError("no")

    later = Afterwards()
    done: list[int] = []

    async def main() -> None:
        later.add(broken)
        later.add(done.append, 2)
        later.flush()

    with caplog.at_level(logging.ERROR, logger="execbox.api"):
        asyncio.run(main())
    assert done == [2] and "bookkeeping failed" in caplog.text
