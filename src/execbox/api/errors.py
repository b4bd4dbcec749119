"""Every error as ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from execbox.errors import ConfigError, ExecboxError
from execbox.languages.registry import UnknownLanguage
from execbox.scheduler import Overloaded

log = logging.getLogger("execbox.api")


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
          ) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            return error(400, "malformed_json", f"the body is not valid JSON: {first.get('msg')}")
        return error(400, "invalid_request", f"{where or 'body'}: {first.get('msg', exc)}")

    @app.exception_handler(UnknownLanguage)
    async def unknown_language(_: Request, exc: UnknownLanguage) -> JSONResponse:
        return error(400, "unknown_language", str(exc))

    @app.exception_handler(ConfigError)
    async def bad_input(_: Request, exc: ConfigError) -> JSONResponse:
        return error(400, "invalid_request", str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return error(503, "overloaded", str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(ExecboxError)
    async def internal(_: Request, exc: ExecboxError) -> JSONResponse:
        log.exception("execbox failed")
        return error(500, "internal_error", str(exc))
