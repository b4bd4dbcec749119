"""The pipes of the runs on an event loop, watched through one epoll of their own.

``loop.add_reader`` for each of a run's three pipes cost ~15 system calls a run on
uvloop: libuv tries each new descriptor with an epoll_ctl ADD and DEL, makes it
non-blocking, adds it for real, then removes it at the end, and every ready pipe is a
callback of its own. Here the loop reads one epoll descriptor for as long as it runs;
a run adds its pipes to that epoll (one epoll_ctl each) and removes them (one each), and
each wake-up hands every ready pipe to its run in one callback. The pipes stay blocking:
a pipe is read once it is ready, so its read returns at once.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import Callable

_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopPipes] = (
    weakref.WeakKeyDictionary())


class LoopPipes:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._epoll = select.epoll()
        self._handlers: dict[int, Callable[[int], None]] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def add(self, fd: int, handler: Callable[[int], None]) -> None:
        """``handler(fd)`` on the loop each time ``fd`` is readable (or closed)."""
        self._epoll.register(fd, select.EPOLLIN)
        self._handlers[fd] = handler

    def remove(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except OSError:  # closed already: no longer in the epoll either
                pass

    def _ready(self) -> None:
        for fd, _ in self._epoll.poll(0):
            handler = self._handlers.get(fd)
            if handler is not None:  # not removed by a handler before it
                handler(fd)


def loop_pipes(loop: asyncio.AbstractEventLoop) -> LoopPipes:
    """The running loop's (made on its first run; gone with the loop)."""
    pipes = _BY_LOOP.get(loop)
    if pipes is None:
        pipes = _BY_LOOP[loop] = LoopPipes(loop)
    return pipes
