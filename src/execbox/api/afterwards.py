"""Bookkeeping that waits until an answer is out and its client has had the CPU: the
access log line, a run's log line and its metrics.

Done right after the answer's last bytes, it ran while the client woke up to read them
and, on a machine with few CPUs, held the client off: ~0.1 ms of every answer on the
benchmark's machine (paired runs). Here it runs ``DELAY_S`` later, in one batch; a
scrape (``Metrics.render``) and the shutdown flush whatever is pending first, so no
count and no line is late to anybody who asks, or lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("execbox.api")


class Afterwards:
    DELAY_S = 0.002

    def __init__(self) -> None:
        self._calls: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, fn: Callable[..., None], *args: Any) -> None:
        """``fn(*args)`` soon, on the running loop (with no loop running: now)."""
        self._calls.append((fn, args))
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self.DELAY_S, self.flush)

    def flush(self) -> None:
        """Everything pending, now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        calls, self._calls = self._calls, []
        for fn, args in calls:
            try:
                fn(*args)
            except Exception:  # bookkeeping never fails a request, nor the rest of it
                log.exception("bookkeeping failed")
