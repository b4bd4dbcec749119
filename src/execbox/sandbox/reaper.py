"""Teardown off the request path: wait for a sandbox's init to exit, empty its cgroup and give
its lease back (leases.py), close its pipes.

By the time a run's result is known the program and everything it started are dead (the
init killed them and reported), so what is left — the init's exit, which tears down its
namespaces (a template sandbox's C init waits for the SIGKILL sent here), and emptying the
cgroup (or removing it) — does not need to hold up the
answer. One worker thread per backend does it in order; ``drain`` (called by ``close``)
waits until nothing is pending, so no zombie or busy cgroup outlives the backend (the
backend then removes the groups it kept). Each teardown starts ``delay_s`` after it was
handed over, not at once: the run's answer is still on its way out of this process then,
and the teardown's Python code would compete with it for the GIL.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Leftover:
    init_pidfd: int  # readable once the init has exited; closed here
    name: str  # its cgroup's, for errors
    give_back: Callable[[], None]  # once the init is gone: empty the cgroup, return the lease
    release: Callable[[], None]  # then, come what may: closes its pipes
    handed_at: float = field(default_factory=time.monotonic)


class Reaper:
    def __init__(self, delay_s: float = 0.01) -> None:
        self.delay_s = delay_s
        self._queue: queue.Queue[Leftover | None] = queue.Queue()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._work, name="execbox-reaper", daemon=True)
        self._thread.start()

    def submit(self, leftover: Leftover) -> None:
        self._queue.put(leftover)

    def drain(self) -> None:
        """Block until every submitted teardown is done."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                wait = item.handed_at + self.delay_s - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                tear_down(item, self.errors)
            finally:
                self._queue.task_done()


def tear_down(item: Leftover, errors: list[str]) -> None:
    try:
        try:  # a template init that reported its run's end waits for this (execbox_init.c)
            signal.pidfd_send_signal(item.init_pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass  # gone already (a cold sandbox's Python init leaves by itself)
        select.select([item.init_pidfd], [], [])
        item.give_back()
    except Exception as exc:
        errors.append(f"teardown of {item.name}: {exc}")
    finally:
        os.close(item.init_pidfd)
        item.release()
