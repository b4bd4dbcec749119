"""Piston v2's interactive WebSocket, ``/api/v2/connect``, translated to a ``Session``.

Piston's protocol (api/src/api/v2.js): the client sends ``{"type": "init", ...job}``
(the fields of ``/api/v2/execute``) within a second, else the socket closes with 4001;
the server answers ``{"type": "runtime", "language", "version"}``, then per stage
``{"type": "stage", "stage": "compile"|"run"}``, ``{"type": "data", "stream":
"stdout"|"stderr", "data"}`` and ``{"type": "exit", "stage", "code", "signal"}``, and
closes with 4999 "Job Completed". The client writes ``{"type": "data", "stream":
"stdin", "data"}`` and sends ``{"type": "signal", "signal": "SIGINT"}``. Errors are
``{"type": "error", "message"}`` and close 4002; a second init closes 4000, data or a
signal before init 4003, data to another stream 4004, an unknown signal 4005.
Piston never ends stdin; neither does this (the program sees EOF when it ends).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from execbox.api.compat.piston import PistonError, run_request
from execbox.api.interactive import BadMessage, parse_signal
from execbox.api.session import ClientGone, Event, Session
from execbox.errors import ConfigError, ExecboxError
from execbox.service import Service
from execbox.types import StageResult

router = APIRouter()

INIT_TIMEOUT_S = 1.0  # Piston's
IDLE_S = 30.0


class Closing(Exception):
    """End the socket with a Piston close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _close(websocket: WebSocket, code: int, reason: str,
                 message: str | None = None) -> None:
    try:
        if message is not None:
            await websocket.send_json({"type": "error", "message": message})
        await websocket.close(code, reason)
    except (WebSocketDisconnect, RuntimeError):
        pass


async def _message(websocket: WebSocket) -> dict[str, Any]:
    try:
        message = json.loads(await websocket.receive_text())
    except ValueError:
        raise Closing(4002, "Notified Error") from None
    if not isinstance(message, dict):
        raise Closing(4002, "Notified Error")
    return message


def _exit(stage: str, result: StageResult) -> dict[str, Any]:
    return {"type": "exit", "stage": stage, "code": result.exit_code,
            "signal": result.signal}


@router.websocket("/api/v2/connect")
@router.websocket("/api/v2/piston/connect")
async def connect(websocket: WebSocket) -> None:
    service: Service = websocket.app.state.service
    await websocket.accept()
    try:
        first = await asyncio.wait_for(_message(websocket), INIT_TIMEOUT_S)
        if first.get("type") != "init":
            raise Closing(4003, "Not yet Initialized")
        run = run_request(service, first)
    except TimeoutError:
        return await _close(websocket, 4001, "Initialization Timeout")
    except WebSocketDisconnect:
        return
    except Closing as exc:
        return await _close(websocket, exc.code, exc.reason)
    except (PistonError, ConfigError) as exc:
        return await _close(websocket, 4002, "Notified Error", str(exc))

    session = Session(service, websocket.app.state.metrics, run, None, False, IDLE_S)
    await websocket.send_json({"type": "runtime", "language": run.language,
                               "version": run.version})

    async def emit(event: Event) -> None:
        if event.kind == "output":
            await websocket.send_json({"type": "data", "stream": event.stream,
                                       "data": event.text})
        elif event.kind == "compiled" and event.prepared is not None:
            compiled = event.prepared.compile
            if compiled is not None:
                await websocket.send_json({"type": "stage", "stage": "compile"})
                for stream in ("stdout", "stderr"):
                    text = getattr(compiled, stream).decode("utf-8", "replace")
                    if text:
                        await websocket.send_json({"type": "data", "stream": stream,
                                                   "data": text})
                await websocket.send_json(_exit("compile", compiled))
            if event.prepared.ok:
                await websocket.send_json({"type": "stage", "stage": "run"})

    async def client(session: Session) -> None:
        try:
            while True:
                message = await _message(websocket)
                session.touch()
                kind = message.get("type")
                if kind == "init":
                    raise Closing(4000, "Already Initialized")
                if kind == "data":
                    if message.get("stream") != "stdin":
                        raise Closing(4004, "Can only write to stdin")
                    session.interaction.write(str(message.get("data", "")).encode())
                elif kind == "signal":
                    try:
                        session.interaction.signal(parse_signal(message.get("signal")))
                    except BadMessage:
                        raise Closing(4005, "Invalid signal") from None
        except Closing as exc:
            await _close(websocket, exc.code, exc.reason)
        except (WebSocketDisconnect, RuntimeError):
            pass

    try:
        result = await session.drive(emit, client)
        if result.run is not None:
            await websocket.send_json(_exit("run", result.run))
        await websocket.close(4999, "Job Completed")
    except ClientGone:
        pass
    except (ExecboxError, ConfigError) as exc:
        await _close(websocket, 4002, "Notified Error", str(exc))
    except (WebSocketDisconnect, RuntimeError):
        pass
