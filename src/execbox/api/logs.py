"""Structured JSON logs: one object per line, each run's with its id.

A 20-line stdlib formatter rather than structlog: the service logs a handful of events,
and this keeps uvicorn's own log records in the same JSON stream.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.types import Message, Send

_STANDARD = set(vars(logging.makeLogRecord({})))
access = logging.getLogger("execbox.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items()
                      if k not in _STANDARD and k != "color_message"})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "info") -> dict[str, Any]:
    """Logging config for the whole process (passed to uvicorn too)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {name: {"handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def log_access(scope: MutableMapping[str, Any], status: int, start: float,
               end: float) -> None:
    """The access line of an HTTP request whose answer is out (``execbox.access``):
    client, method, path, status, and ``ms`` from ``start`` to ``end`` (both
    ``time.perf_counter()``)."""
    peer = scope.get("client")
    client = f"{peer[0]}:{peer[1]}" if peer else "-"
    access.info('%s - "%s %s HTTP/%s" %d', client, scope["method"], scope["path"],
                scope["http_version"], status, extra={
                    "status": status, "path": scope["path"],
                    "ms": round((end - start) * 1000, 2)})


def logged(scope: MutableMapping[str, Any], send: Send, start: float,
           defer: Callable[..., None]) -> Send:
    """``send`` that has the access line written (``defer(log_access, ...)``: see
    afterwards.py) once the answer's last bytes are out."""
    status = 0

    async def logging_send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            defer(log_access, scope, status, start, time.perf_counter())

    return logging_send
