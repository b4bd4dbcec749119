"""What the API needs of a scheduler: admission, a fair bounded queue, back-pressure, a
drain for shutdown. ``EmbeddedScheduler`` is the one process implementation (an asyncio
queue and worker threads); a RabbitMQ transport for many machines implements the same
protocol, so neither the API nor the runner changes when it comes.

A transport that crosses machines cannot ship a closure: it will publish the request
(``RunRequest`` as JSON) and have workers call the runner; the API's ``fn`` is then built by
the transport's caller from that request. Everything else here (depth, admission, the
deadline, fairness by client, the drain) keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Protocol, TypeVar, runtime_checkable

from execbox.errors import ExecboxError

T = TypeVar("T")

# The client a submit is for when its caller names none: the API sets it for each request
# (an API key's hash, or the remote address), and tasks started from a request inherit it.
current_client: ContextVar[str] = ContextVar("execbox_client", default="")


class Overloaded(ExecboxError):
    """No capacity now (the queue is full, or no slot came before the deadline); try again
    after ``retry_after_s``. The API answers 503 with Retry-After."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ShuttingDown(ExecboxError):
    """The server is stopping: a new run is refused, a queued one is dropped, and a run still
    going when the grace ends is reported as not finished (503 with Retry-After). Not an
    ``Overloaded``: callers that retry on overload must not retry this."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@runtime_checkable
class Broker(Protocol):
    """Runs ``fn`` when the client's fair turn comes, at most ``concurrency`` at once."""

    concurrency: int  # runs at once (on this node, for a remote transport: its share)
    queue_limit: int  # requests that may wait; one more is refused

    @property
    def depth(self) -> int:
        """Requests waiting for a slot."""
        ...

    @property
    def running(self) -> int:
        """Runs executing now."""
        ...

    @property
    def draining(self) -> bool:
        """Shutting down: new runs are refused."""
        ...

    def full(self) -> bool:
        """A new (not admitted) request would be refused now."""
        ...

    async def submit(self, fn: Callable[[], T], *, client: str = "", admitted: bool = False,
                     deadline: float | None = None,
                     attempt: Callable[[], Awaitable[T | None]] | None = None) -> T:
        """Run ``fn`` once a slot is free and it is ``client``'s turn (default: the
        context's ``current_client``); its result.

        ``attempt``: the same work done on the event loop when it can be (a warm run), tried
        first with the slot held; when it returns None (it could not, and did nothing)
        ``fn`` runs as usual. A transport may ignore it (one that runs work elsewhere), or
        use it only when that pays (the embedded one: while nobody waits).

        ``admitted``: part of a request already let in (the tests of one judge request):
        never refused for a full queue or a drain, but it waits its turn like the rest.
        ``deadline`` (``time.monotonic()``): give up waiting then (Overloaded); default
        the scheduler's queue timeout (none for an admitted part). Cancelling the caller
        while it waits takes it out of the queue. Raises Overloaded or ShuttingDown."""
        ...

    def stop_accepting(self) -> None:
        """Start a drain: refuse new runs, drop the queued ones that were not admitted."""
        ...

    async def drain(self, timeout_s: float) -> int:
        """Stop accepting, wait up to ``timeout_s`` for the runs in progress (and admitted
        parts) to finish, then fail whoever still waits with ShuttingDown. The number
        of runs still executing at the end (their sandboxes end at their own limits)."""
        ...

    def close(self) -> None:
        """Release the workers (waits for runs still executing)."""
        ...
