"""Judge0 CE 1.13.1's authentication and authorization routes, and its privileged ones.

Judge0 checks ``AUTHN_HEADER`` (X-Auth-Token) against ``AUTHN_TOKEN`` on every route (401),
and ``AUTHZ_HEADER`` (X-Auth-User) against ``AUTHZ_TOKEN`` on the privileged ones (403):
``POST /authorize``, ``GET /submissions`` (the list of every submission) and
``DELETE /submissions/TOKEN``; with no ``AUTHZ_TOKEN`` those are always 403. Both tokens may
also come as a query parameter of the header's name. Both answers have an empty body.
execbox's API keys play AUTHN_TOKEN, ``judge0_auth_user_tokens`` AUTHZ_TOKEN; the gate in
``api/app.py`` applies them, with ``privileged`` below; these routes only answer.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from execbox.api.compat import judge0
from execbox.service import Service

router = APIRouter()

PER_PAGE = 20  # Judge0's Submission.per_page


def privileged(method: str, path: str) -> bool:
    """A route that needs X-Auth-User (Judge0's ``authorize_request``)."""
    path = path.rstrip("/") or "/"
    return ((method == "POST" and path == "/authorize")
            or (method == "GET" and path == "/submissions")
            or (method == "DELETE" and path.startswith("/submissions/")))


@router.post("/authenticate", summary="Judge0: is this X-Auth-Token valid")
async def authenticate() -> Response:
    return Response(status_code=200)


@router.post("/authorize", summary="Judge0: is this X-Auth-User valid")
async def authorize() -> Response:
    return Response(status_code=200)


def _int(request: Request, name: str, default: int) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return None


@router.get("/submissions", summary="Judge0: every submission, a page at a time (X-Auth-User)")
async def index(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    page = _int(request, "page", 1)
    per_page = _int(request, "per_page", PER_PAGE)
    if page is None or page <= 0:
        return JSONResponse({"error": f"invalid page: {request.query_params.get('page')}"},
                            status_code=400)
    if per_page is None or per_page < 0:
        return JSONResponse(
            {"error": f"invalid per_page: {request.query_params.get('per_page')}"},
            status_code=400)
    per_page = min(per_page or PER_PAGE, 1000)
    total, tokens = service.runs.page("judge0_request", (page - 1) * per_page, per_page)
    encoded = request.query_params.get("base64_encoded", "false").lower() == "true"
    submissions: list[dict[str, Any]] = []
    for token in tokens:
        found = judge0._lookup(service, token, request, encoded)
        if found is not None:
            submissions.append(found)
    pages = math.ceil(total / per_page)
    return JSONResponse({"submissions": submissions, "meta": {
        "current_page": page, "next_page": page + 1 if page < pages else None,
        "prev_page": page - 1 if page > 1 else None, "total_pages": pages,
        "total_count": total}})


@router.delete("/submissions/{token}", summary="Judge0: delete a submission (X-Auth-User)")
async def delete(token: str) -> JSONResponse:
    # as Judge0 configured with ENABLE_SUBMISSION_DELETE=false (what /config_info says)
    return JSONResponse({"error": "delete not allowed"}, status_code=400)
