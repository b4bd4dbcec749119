"""Piston v2 (engineer-man/piston): `GET /api/v2/runtimes`, `POST /api/v2/execute`.

Translation only. Real clients are lenient, so this is too: a JSON body with any content
type or none, a form-encoded body (the `pistonapi` client sends one), `files` as a string,
a list of strings or a list of objects, `args` as a string or a list, `version` missing,
"*", a prefix or an x-range like "3.x" (newest match), memory limits of -1 (the server's
default). Errors are Piston's `{"message": ...}` with status 400. Also served under
`/api/v2/piston/...`, the path of the public instance that clients default to.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from execbox.api.execution import perform
from execbox.errors import ConfigError
from execbox.languages.registry import UnknownLanguage
from execbox.runner.runner import RunRequest, RunResult
from execbox.sandbox.spec import SandboxFile
from execbox.service import Service
from execbox.types import StageResult, Status

router = APIRouter()

# isolate's two-letter statuses, which Piston passes on
_PISTON_STATUS = {Status.RUNTIME_ERROR: "RE", Status.SIGNALED: "SG", Status.TIME_LIMIT: "TO",
                  Status.MEMORY_LIMIT: "SG", Status.OUTPUT_LIMIT: "OL",
                  Status.BLOCKED_SYSCALL: "SG", Status.INTERNAL_ERROR: "XX"}


class PistonError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    kind = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" not in kind:
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
        if "json" in kind:
            raise PistonError("the body is not a JSON object")
    form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    if not form:
        raise PistonError("the body is neither JSON nor a form")
    return {k: (v if k in ("files", "args") else v[0]) for k, v in form.items()}


def _files(value: Any, default_name: str) -> tuple[SandboxFile, ...]:
    items = [value] if isinstance(value, str | dict) else value
    if not isinstance(items, list) or not items:
        raise PistonError("files is required (a string, strings or {name, content} objects)")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"content": item}
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            raise PistonError(f"files[{i}].content must be a string")
        name = item.get("name") or (default_name if i == 0 else f"file{i}")
        data = item["content"]
        if item.get("encoding") == "base64":
            try:
                out.append(SandboxFile(str(name), base64.b64decode(data, validate=True)))
            except (binascii.Error, ValueError) as exc:
                raise PistonError(f"files[{i}]: bad base64") from exc
        else:
            out.append(SandboxFile(str(name), data.encode()))
    return tuple(out)


def _int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise PistonError(f"{key} must be a number") from exc
    return None if number < 0 else number  # -1: no limit asked for (the default applies)


def _limits(body: dict[str, Any], stage: str) -> dict[str, int]:
    out: dict[str, int] = {}
    timeout = _int(body, f"{stage}_timeout") or (_int(body, "timeout") if stage == "run"
                                                 else None)
    if timeout:
        out["wall_time_ms"] = timeout
        out["cpu_time_ms"] = timeout
    memory = _int(body, f"{stage}_memory_limit")
    if memory:
        out["memory_mb"] = max(memory // (1024 * 1024), 1)
    return out


def _stage(stage: StageResult) -> dict[str, Any]:
    stdout = stage.stdout.decode("utf-8", "replace")
    stderr = stage.stderr.decode("utf-8", "replace")
    return {
        "stdout": stdout, "stderr": stderr, "output": stdout + stderr,
        "code": stage.exit_code, "signal": stage.signal,
        "message": stage.message or (None if stage.status is Status.OK else stage.status.value),
        "status": _PISTON_STATUS.get(stage.status),
        "cpu_time": stage.cpu_time_ms, "wall_time": stage.wall_time_ms,
        "memory": stage.memory_kb * 1024,
    }


def _answer(result: RunResult) -> dict[str, Any]:
    answer: dict[str, Any] = {"language": result.language, "version": result.version}
    if result.compile is not None:
        answer["compile"] = _stage(result.compile)
    answer["run"] = _stage(result.run) if result.run is not None else {
        "stdout": "", "stderr": "", "output": "", "code": None, "signal": None,
        "message": "compilation failed", "status": None}
    return answer


def run_request(service: Service, body: dict[str, Any]) -> RunRequest:
    """A Piston job as a run request, checked (PistonError or ConfigError when bad)."""
    language = body.get("language")
    if not isinstance(language, str) or not language:
        raise PistonError("language is required")
    version = body.get("version")
    version = None if version in (None, "", "*", "latest") else str(version)
    if version is not None:  # a semver x-range: "3.x", "3.10.*" mean the prefix
        version = re.sub(r"(\.[xX*])+$", "", version)
    try:
        lang = service.registry.get(language, version)
    except UnknownLanguage as exc:
        raise PistonError(f"{language}-{version or '*'} runtime is unknown") from exc
    args = body.get("args") or []
    run = RunRequest(
        language=lang.name, version=lang.version,
        files=_files(body.get("files"), lang.source),
        stdin=str(body.get("stdin") or "").encode(),
        args=(args,) if isinstance(args, str) else tuple(str(a) for a in args),
        limits=_limits(body, "run"), compile_limits=_limits(body, "compile"))
    service.runner.check(run)
    return run


@router.get("/api/v2/runtimes", summary="Piston v2: the runtimes")
@router.get("/api/v2/piston/runtimes", include_in_schema=False)
async def runtimes(request: Request) -> list[dict[str, Any]]:
    service: Service = request.app.state.service
    return [{"language": lang.name, "version": lang.version, "aliases": list(lang.aliases)}
            for lang in service.registry.available()]


@router.post("/api/v2/execute", summary="Piston v2: run a program")
@router.post("/api/v2/piston/execute", include_in_schema=False)
async def execute(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    try:
        run = run_request(service, await _body(request))
    except (PistonError, ConfigError) as exc:
        return JSONResponse({"message": str(exc)}, status_code=getattr(exc, "status", 400))
    result = await perform(service, request.app.state.metrics, run)
    return JSONResponse(_answer(result))
