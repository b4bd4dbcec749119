"""sandbox/loop_pipes.py: the pipes of runs on an event loop, watched through one epoll."""

from __future__ import annotations

import asyncio
import os

import pytest
import uvloop

from execbox.sandbox.loop_pipes import loop_pipes


@pytest.fixture(params=["asyncio", "uvloop"])
def new_loop(request):
    return asyncio.new_event_loop if request.param == "asyncio" else uvloop.new_event_loop


def test_each_ready_pipe_goes_to_its_handler_until_removed(new_loop):
    async def main() -> None:
        loop = asyncio.get_running_loop()
        watched = loop_pipes(loop)
        assert loop_pipes(loop) is watched  # one per loop
        (r1, w1), (r2, w2) = os.pipe(), os.pipe()
        got: list[tuple[int, bytes]] = []
        both = loop.create_future()

        def handler(fd: int) -> None:
            data = os.read(fd, 100)
            got.append((fd, data))
            if not data:
                watched.remove(fd)  # closed: not watched any more
            if len(got) == 3 and not both.done():
                both.set_result(None)

        watched.add(r1, handler)
        watched.add(r2, handler)
        os.write(w1, b"one")
        os.write(w2, b"two")
        os.close(w2)
        await asyncio.wait_for(both, 5)
        assert sorted(got) == sorted([(r1, b"one"), (r2, b"two"), (r2, b"")])
        watched.remove(r1)
        os.write(w1, b"unseen")
        await asyncio.sleep(0.05)
        assert len(got) == 3
        watched.remove(r1)  # twice: nothing
        os.close(r2)
        r3, w3 = os.pipe()
        watched.add(r3, handler)
        os.close(r3)
        os.close(w3)
        watched.remove(r3)  # closed already (so out of the epoll): nothing
        for fd in (r1, w1):
            os.close(fd)

    loop = new_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_each_loop_has_its_own(new_loop):
    loops = [new_loop(), new_loop()]
    try:
        assert loop_pipes(loops[0]) is not loop_pipes(loops[1])
    finally:
        for loop in loops:
            loop.close()
