"""One interactive run behind a WebSocket, whatever its dialect (native or Piston).

The run takes a scheduler slot like any other and happens on a worker thread: compile
(sandboxed, cached), then the program in a fresh cold sandbox (``runner.interactive``).
Its events — compiled, started, each output chunk — cross to the event loop through a
queue; the client's messages go the other way through the ``Interaction``. The session
ends when the program does; an idle session (nothing from the client and nothing from the
program for ``idle_s``) and a client that goes away end the program.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocketDisconnect

from execbox.api.metrics import Metrics, Stopwatch
from execbox.errors import ExecboxError
from execbox.runner.runner import Prepared, RunRequest, RunResult
from execbox.sandbox.interaction import Interaction
from execbox.service import Service


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "compiled" | "started" | "output"
    stream: str = ""
    text: str = ""
    prepared: Prepared | None = None


class ClientGone(ExecboxError):
    """The client of an interactive run went away before it started."""


class Session:
    def __init__(self, service: Service, metrics: Metrics, run: RunRequest,
                 pty: tuple[int, int] | None, wall_given: bool, idle_s: float) -> None:
        self.service = service
        self.metrics = metrics
        self.run = run
        self.pty = pty
        self.wall_given = wall_given
        self.idle_s = idle_s
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace")
                          for name in ("stdout", "stderr")}
        self.interaction = Interaction(self._output, self._started)
        self.last_activity = time.monotonic()
        self.idle_killed = False
        self.abandoned = False


    def touch(self) -> None:
        """The client said something: the session is not idle."""
        self.last_activity = time.monotonic()

    # --- the supervisor's thread -------------------------------------------------------
    def _output(self, stream: str, data: bytes) -> None:
        text = self._decoders[stream].decode(data)
        if text:
            self.loop.call_soon_threadsafe(self.events.put_nowait, Event("output", stream,
                                                                         text))

    def _started(self) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, Event("started"))

    def _work(self) -> RunResult:
        try:
            if self.abandoned:  # the client left while the run was queued
                raise ClientGone("the client went away before the run started")
            runner = self.service.runner
            prepared = runner.prepare(self.run)
            self.loop.call_soon_threadsafe(self.events.put_nowait,
                                           Event("compiled", prepared=prepared))
            lang = prepared.language
            if not prepared.ok:
                return RunResult(lang.name, lang.version, prepared.status, prepared.compile,
                                 None)
            result = runner.run_interactive(prepared, self.interaction, self.pty,
                                            wall_given=self.wall_given)
            return RunResult(lang.name, lang.version, result.status, prepared.compile,
                             result, prepared.cached)
        finally:  # only now: the supervisor used its descriptors until here
            self.interaction.close()

    # --- the event loop ----------------------------------------------------------------
    async def drive(self, emit: Callable[[Event], Awaitable[None]],
                    client: Callable[[Session], Awaitable[None]]) -> RunResult:
        """Run to the end, passing events to ``emit``; ``client`` reads the client's
        messages (returning when it goes away). Raises what the scheduler raises
        (Overloaded) before anything ran, and ClientGone when the client left first."""
        watch = Stopwatch()
        ran = [0.0]

        def work() -> RunResult:
            inner = Stopwatch()
            try:
                return self._work()
            finally:
                ran[0] = inner.lap()

        job = asyncio.ensure_future(self.service.scheduler.submit(work))
        reader = asyncio.ensure_future(client(self))
        gone = False  # the client cannot be written to any more
        try:
            while not job.done() or not self.events.empty():
                if (reader.done() or gone) and not job.done():
                    self._abandon()
                left = self.last_activity + self.idle_s - time.monotonic()
                if left <= 0 and not self.idle_killed:
                    self.idle_killed = True
                    self.interaction.kill()
                getter = asyncio.ensure_future(self.events.get())
                waiting: set[asyncio.Future[Any]] = {getter, job}
                if not reader.done():
                    waiting.add(reader)
                await asyncio.wait(waiting, timeout=max(left, 0.05),
                                   return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                self.touch()
                if not gone:
                    try:
                        await emit(getter.result())
                    except (WebSocketDisconnect, RuntimeError, OSError):
                        gone = True
            result = job.result()
            for stream, decoder in self._decoders.items():  # a cut-off last character
                rest = decoder.decode(b"", final=True)
                if rest and not gone:
                    await emit(Event("output", stream, rest))
        except BaseException:
            self._abandon()  # e.g. the server is shutting down: the run ends too
            raise
        finally:
            reader.cancel()
        self.metrics.observe(result, queued_s=max(watch.lap() - ran[0], 0.0), ran_s=ran[0])
        return result

    def _abandon(self) -> None:
        """Nobody listens any more: a queued run never starts, a running one is killed."""
        self.abandoned = True
        self.interaction.kill()

