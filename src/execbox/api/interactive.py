"""The native interactive WebSocket, ``/v1/interactive``. Text frames, one JSON object each.

Client → server: first ``{"type": "run", ...}`` with the fields of ``POST /v1/execute``
(no tests or checker) plus optional ``"pty": {"rows": 24, "cols": 80}`` (or ``true``) and
``"idle_timeout_ms"``; then any number of ``{"type": "stdin", "data": "..."}`` (with
``"encoding": "base64"`` for bytes), ``{"type": "eof"}``, ``{"type": "signal", "signal":
"SIGINT"}`` and ``{"type": "kill"}``.

Server → client: ``{"type": "accepted", "id", "language", "version"}``, then
``{"type": "compile", ...stage}`` for a compiled language, ``{"type": "started"}``,
``{"type": "stdout" | "stderr", "data": "..."}`` as the program writes, and finally
``{"type": "exit", ...}`` — the result object of ``/v1/execute`` whose run stage has empty
stdout/stderr (they were streamed) — and a normal close (1000). Errors:
``{"type": "error", "error": {"code", "message"}}`` then close 1008 (bad input), 1013
(overloaded: try again later), 1001 (the server is shutting down) or 1011 (internal).
With a pty both streams arrive as ``stdout``, and EOF is typed as ^D.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import signal
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from execbox.api.models import ExecuteRequest
from execbox.api.native import run_request
from execbox.api.session import ClientGone, Event, Session
from execbox.errors import ConfigError, ExecboxError
from execbox.sandbox.outcome import ENDED_BY_CLIENT
from execbox.scheduler import Overloaded, ShuttingDown
from execbox.service import Service

router = APIRouter()

INIT_TIMEOUT_S = 10.0
DEFAULT_IDLE_MS = 30_000
DEFAULT_PTY = (24, 80)


class BadMessage(Exception):
    pass


def _pty(value: Any) -> tuple[int, int] | None:
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_PTY
    if isinstance(value, dict) and set(value) <= {"rows", "cols"}:
        rows, cols = value.get("rows", DEFAULT_PTY[0]), value.get("cols", DEFAULT_PTY[1])
        if isinstance(rows, int) and isinstance(cols, int) and 0 < rows <= 1000 \
                and 0 < cols <= 1000:
            return rows, cols
    raise BadMessage("pty must be true or {\"rows\": 1-1000, \"cols\": 1-1000}")


def parse_signal(value: Any) -> int:
    """A signal by name ("SIGINT", "INT") or number; BadMessage otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        name = value.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        try:
            number = int(signal.Signals[name])
        except KeyError:
            raise BadMessage(f"no such signal: {value}") from None
    else:
        raise BadMessage("signal must be a name or a number")
    if number not in signal.valid_signals():
        raise BadMessage(f"no such signal: {value}")
    return number


async def _message(websocket: WebSocket) -> dict[str, Any]:
    text = await websocket.receive_text()
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage("messages are JSON objects") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadMessage("messages are JSON objects with a \"type\"")
    return message


async def _fail(websocket: WebSocket, code: str, message: str, close_code: int) -> None:
    try:
        await websocket.send_json({"type": "error", "error": {"code": code,
                                                               "message": message}})
        await websocket.close(close_code)
    except (WebSocketDisconnect, RuntimeError):
        pass


@router.websocket("/v1/interactive")
async def interactive(websocket: WebSocket) -> None:
    service: Service = websocket.app.state.service
    await websocket.accept()
    try:
        first = await asyncio.wait_for(_message(websocket), INIT_TIMEOUT_S)
        if first["type"] != "run":
            raise BadMessage("the first message must be {\"type\": \"run\", ...}")
        options = {k: first.pop(k) for k in ("pty", "idle_timeout_ms") if k in first}
        first.pop("type")
        body = ExecuteRequest.model_validate(first)
        if body.tests is not None or body.checker is not None:
            raise BadMessage("an interactive run has no tests or checker")
        run = run_request(service, body)
        idle_ms = options.get("idle_timeout_ms", DEFAULT_IDLE_MS)
        if not isinstance(idle_ms, int) or isinstance(idle_ms, bool) or idle_ms <= 0:
            raise BadMessage("idle_timeout_ms must be a positive integer")
        wall_given = bool(body.limits and body.limits.wall_time_ms)
        session = Session(service, websocket.app.state.metrics, run, _pty(options.get("pty")),
                          wall_given, idle_ms / 1000)
    except TimeoutError:
        return await _fail(websocket, "timeout", "no run request within "
                           f"{INIT_TIMEOUT_S:g} s", 1008)
    except WebSocketDisconnect:
        return
    except ValidationError as exc:
        return await _fail(websocket, "invalid_request", _first_error(exc), 1008)
    except (BadMessage, ConfigError) as exc:
        return await _fail(websocket, "invalid_request", str(exc), 1008)

    run_id = str(uuid.uuid4())
    await websocket.send_json({"type": "accepted", "id": run_id, "language": run.language,
                               "version": run.version})

    async def emit(event: Event) -> None:
        if event.kind == "output":
            await websocket.send_json({"type": event.stream, "data": event.text})
        elif event.kind == "started":
            await websocket.send_json({"type": "started"})
        elif event.prepared is not None and event.prepared.compile is not None:
            await websocket.send_json({"type": "compile",
                                       **event.prepared.compile.as_json()})

    async def client(session: Session) -> None:
        try:
            while True:
                message = await _message(websocket)
                session.touch()
                _handle(session, message)
        except (BadMessage, ConfigError) as exc:
            await _fail(websocket, "invalid_request", str(exc), 1008)
        except (WebSocketDisconnect, RuntimeError):
            pass

    try:
        result = await session.drive(emit, client)
    except ClientGone:
        return
    except Overloaded as exc:
        return await _fail(websocket, "overloaded", f"{exc}; retry after "
                           f"{exc.retry_after_s} s", 1013)
    except ShuttingDown as exc:
        return await _fail(websocket, "shutting_down", str(exc), 1001)
    except ConfigError as exc:
        return await _fail(websocket, "invalid_request", str(exc), 1008)
    except ExecboxError as exc:
        return await _fail(websocket, "internal_error", str(exc), 1011)
    except (WebSocketDisconnect, RuntimeError):
        return
    answer = {"type": "exit", "id": run_id, **result.as_json(), "tests": None,
              "verdict": None}
    if session.idle_killed and result.run is not None and \
            result.run.message == ENDED_BY_CLIENT:  # the idle timeout, not the client
        answer["run"]["message"] = "ended: idle for longer than idle_timeout_ms"
    try:
        await websocket.send_json(answer)
        await websocket.close(1000)
    except (WebSocketDisconnect, RuntimeError):
        pass


def _handle(session: Session, message: dict[str, Any]) -> None:
    kind = message["type"]
    interaction = session.interaction
    if kind == "stdin":
        data = message.get("data")
        if not isinstance(data, str):
            raise BadMessage("stdin needs \"data\": a string")
        if message.get("encoding") == "base64":
            try:
                interaction.write(base64.b64decode(data, validate=True))
            except (binascii.Error, ValueError):
                raise BadMessage("stdin data is not valid base64") from None
        else:
            interaction.write(data.encode())
    elif kind == "eof":
        interaction.close_stdin()
    elif kind == "signal":
        interaction.signal(parse_signal(message.get("signal")))
    elif kind == "kill":
        interaction.kill()
    elif kind == "run":
        raise BadMessage("the run has started already")
    else:
        raise BadMessage(f"unknown message type: {kind}")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "body"
    return f"{where}: {error.get('msg')}"
