"""Judge0 CE 1.13.1: submissions (single, batch; `base64_encoded`, `wait`, `fields`),
languages with 1.13.1's ids, statuses 1-14, `/about`, `/config_info`.

Translation only: a submission becomes a runner request; its result becomes Judge0's
fields, names and timestamp format ("%Y-%m-%dT%H:%M:%S.%fZ"). Submissions are stored like
native async runs (SQLite), keyed by token. Overload is 503 with Retry-After, never 429
(Judge0's SDK cannot handle 429).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import signal
import time
import uuid
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from execbox.api.execution import perform
from execbox.errors import ConfigError
from execbox.judge import TestCase, Verdict, checkers, judge_run, text_checker, verdicts
from execbox.runner.runner import RunRequest, RunResult
from execbox.sandbox.spec import SandboxFile
from execbox.scheduler import Overloaded
from execbox.service import Service
from execbox.types import Status

router = APIRouter()
MAX_BATCH = 20  # Judge0's default MAX_SUBMISSION_BATCH_SIZE

VERSION = "1.13.1"
# Judge0 CE 1.13.1's language ids for the languages execbox has (a name may have two)
IDS: dict[int, str] = {
    43: "plaintext", 45: "assembly", 46: "bash", 50: "c", 51: "csharp", 52: "cpp", 54: "cpp",
    55: "commonlisp", 56: "d", 57: "elixir", 58: "erlang", 59: "fortran", 60: "go",
    61: "haskell", 62: "java", 63: "javascript", 64: "lua", 65: "ocaml", 66: "octave",
    67: "pascal", 68: "php", 69: "prolog", 71: "python", 72: "ruby", 73: "rust",
    74: "typescript", 75: "c-clang", 76: "cpp-clang", 77: "cobol", 78: "kotlin",
    79: "objective-c", 80: "r", 81: "scala", 82: "sql", 85: "perl", 86: "clojure",
    88: "groovy",
}
STATUSES = {1: "In Queue", 2: "Processing", 3: "Accepted", 4: "Wrong Answer",
            5: "Time Limit Exceeded", 6: "Compilation Error", 7: "Runtime Error (SIGSEGV)",
            8: "Runtime Error (SIGXFSZ)", 9: "Runtime Error (SIGFPE)",
            10: "Runtime Error (SIGABRT)", 11: "Runtime Error (NZEC)",
            12: "Runtime Error (Other)", 13: "Internal Error", 14: "Exec Format Error"}
_SIGNAL_STATUS = {"SIGSEGV": 7, "SIGXFSZ": 8, "SIGFPE": 9, "SIGABRT": 10}
_TIME = "%Y-%m-%dT%H:%M:%S"


def _now() -> str:
    t = time.time()
    return time.strftime(_TIME, time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class Judge0Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _text(value: Any, encoded: bool, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Judge0Error(422, f"{field} must be a string")
    if not encoded:
        return value
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as exc:
        raise Judge0Error(400, f"{field} is not valid base64") from exc


def _encode(value: str | None, encoded: bool) -> str | None:
    if value is None or not encoded:
        return value
    return base64.b64encode(value.encode()).decode()


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def _run_request(service: Service, body: dict[str, Any], encoded: bool,
                 ) -> tuple[RunRequest, str | None]:
    try:
        language_id = int(body.get("language_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise Judge0Error(422, "language_id must be an integer") from exc
    name = IDS.get(language_id)
    if name is None or name not in {lang.name for lang in service.registry.available()}:
        raise Judge0Error(422, f"language with id {language_id} doesn't exist")
    lang = service.registry.get(name)
    source = _text(body.get("source_code"), encoded, "source_code")
    if source is None:
        raise Judge0Error(422, "source_code can't be blank")
    limits: dict[str, int] = {}
    for field, key, scale in (("cpu_time_limit", "cpu_time_ms", 1000),
                              ("wall_time_limit", "wall_time_ms", 1000),
                              ("memory_limit", "memory_mb", 1 / 1024),
                              ("max_processes_and_or_threads", "processes", 1),
                              ("max_file_size", "file_size_mb", 1 / 1024)):
        if body.get(field) is not None:
            try:
                limits[key] = max(int(float(body[field]) * scale), 1)
            except (TypeError, ValueError) as exc:
                raise Judge0Error(422, f"{field} must be a number") from exc
    args = str(body.get("command_line_arguments") or "").split()
    run = RunRequest(language=lang.name, version=lang.version,
                     files=(SandboxFile(lang.source, source.encode()),),
                     stdin=(_text(body.get("stdin"), encoded, "stdin") or "").encode(),
                     args=tuple(args), limits=limits)
    try:
        service.runner.check(run)
    except ConfigError as exc:
        raise Judge0Error(422, str(exc)) from exc
    return run, _text(body.get("expected_output"), encoded, "expected_output")


# Judge0 1.13.1 compares stdout with expected_output after stripping each line's trailing
# whitespace and the trailing blank lines: the judge's "lines" checker, used as is here so
# that a submission and a native test judge alike.
_CHECK = text_checker(checkers.builtin("lines"))
_BY_VERDICT = {Verdict.AC: 3, Verdict.WA: 4, Verdict.TLE: 5, Verdict.CE: 6, Verdict.OLE: 8,
               Verdict.IE: 13}


def verdict_of(result: RunResult, expected: str | None) -> Verdict:
    """The judge's verdict of a finished submission (one test)."""
    if result.run is None:
        return verdicts.of_compile(result.status) if result.compile else Verdict.IE
    test = TestCase("1", expected=None if expected is None else expected.encode())
    return judge_run(result.run, test, _CHECK).verdict


def _status(result: RunResult, expected: str | None) -> int:
    verdict = verdict_of(result, expected)
    if verdict in _BY_VERDICT:
        return _BY_VERDICT[verdict]
    stage = result.run  # RE or MLE: Judge0 names the signal, else NZEC or "Other"
    assert stage is not None
    if stage.signal in _SIGNAL_STATUS:
        return _SIGNAL_STATUS[stage.signal]
    if stage.status is Status.RUNTIME_ERROR:
        return 11
    return 12


def _submission(token: str, result: RunResult, expected: str | None, created: str,
                language_id: int) -> dict[str, Any]:
    """A finished submission, not yet encoded: every response field of 1.13.1."""
    stage = result.run
    status = _status(result, expected)
    compile_output = None
    if result.compile is not None and result.compile.status is not Status.OK:
        compile_output = (result.compile.stdout + result.compile.stderr).decode(
            "utf-8", "replace")
    return {
        "token": token, "language_id": language_id,
        "stdout": stage.stdout.decode("utf-8", "replace") if stage else None,
        "stderr": (stage.stderr.decode("utf-8", "replace") or None) if stage else None,
        "compile_output": compile_output,
        "message": (stage.message if stage else None),
        "exit_code": stage.exit_code if stage else None,
        "exit_signal": (_signal_number(stage.signal) if stage and stage.signal else None),
        "status": {"id": status, "description": STATUSES[status]},
        "status_id": status,
        "created_at": created, "finished_at": _now(),
        "time": f"{stage.cpu_time_ms / 1000:.3f}" if stage else None,
        "wall_time": f"{stage.wall_time_ms / 1000:.3f}" if stage else None,
        "memory": stage.memory_kb if stage else None,
        "expected_output": expected,
    }


def _signal_number(name: str) -> int | None:
    try:
        return int(signal.Signals[name])
    except KeyError:
        return None


_ENCODED = ("stdout", "stderr", "compile_output", "expected_output", "source_code", "stdin")
_DEFAULT_FIELDS = ("token", "stdout", "time", "memory", "stderr", "compile_output",
                   "message", "status")


def _present(submission: dict[str, Any], request: Request, encoded: bool) -> dict[str, Any]:
    fields = request.query_params.get("fields")
    if fields == "*":
        chosen = list(submission)
    elif fields:
        chosen = [f.strip() for f in fields.split(",") if f.strip()]
    else:
        chosen = list(_DEFAULT_FIELDS)
    out = {}
    for field in chosen:
        value = submission.get(field)
        out[field] = _encode(value, encoded) if field in _ENCODED else value
    return out


async def _finish(app: FastAPI, token: str, run: RunRequest, expected: str | None,
                  created: str, language_id: int) -> dict[str, Any]:
    service: Service = app.state.service
    service.runs.start(token)
    while True:
        try:
            result = await perform(service, app.state.metrics, run, token)
            break
        except Overloaded as exc:
            await asyncio.sleep(exc.retry_after_s)
    submission = _submission(token, result, expected, created, language_id)
    service.runs.finish(token, {"judge0": submission})
    return submission


def _queued(token: str, created: str, language_id: int) -> dict[str, Any]:
    return {"token": token, "language_id": language_id, "status": {"id": 1, "description":
            STATUSES[1]}, "status_id": 1, "created_at": created, "finished_at": None}


def _start(app: FastAPI, body: dict[str, Any], encoded: bool, token: str | None = None,
           ) -> tuple[str, asyncio.Task[dict[str, Any]]]:
    """Validate, store (unless ``token``: already stored) and run in the background."""
    service: Service = app.state.service
    run, expected = _run_request(service, body, encoded)
    created = _now()
    if token is None:
        token = str(uuid.uuid4())
        service.runs.add(token, {"judge0_request": body, "base64_encoded": encoded})
    task = asyncio.create_task(_finish(app, token, run, expected, created,
                                       int(body["language_id"])))
    app.state.background.add(task)
    task.add_done_callback(app.state.background.discard)
    return token, task


def resume(app: FastAPI, token: str, stored: dict[str, Any]) -> bool:
    """At start-up: run again a submission a killed server left unfinished. False if
    ``stored`` is not a Judge0 submission."""
    body = stored.get("judge0_request")
    if not isinstance(body, dict):
        return False
    try:
        _start(app, body, bool(stored.get("base64_encoded")), token)
    except Judge0Error as exc:  # no longer valid here (a language gone): say so, once
        app.state.service.runs.finish(token, {"judge0": {
            "token": token, "status": {"id": 13, "description": STATUSES[13]},
            "message": str(exc)}})
    return True


def _error(exc: Judge0Error) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


@router.post("/submissions", status_code=201, summary="Judge0: create a submission")
async def create(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    encoded = _flag(request, "base64_encoded")
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise Judge0Error(400, "the body must be a JSON object")
        if service.scheduler.full() and not _flag(request, "wait"):
            raise Overloaded("the queue is full", retry_after_s=1)
        token, task = _start(request.app, body, encoded)
    except Judge0Error as exc:
        return _error(exc)
    except ValueError:
        return JSONResponse({"error": "the body is not valid JSON"}, status_code=400)
    if _flag(request, "wait"):
        submission = await task
        return JSONResponse(_present(submission, request, encoded), status_code=201)
    return JSONResponse({"token": token}, status_code=201)


@router.get("/submissions/batch", summary="Judge0: several submissions")
async def get_batch(request: Request) -> JSONResponse:
    tokens = [t for t in request.query_params.get("tokens", "").split(",") if t]
    problem = _batch_size(len(tokens))
    if problem is not None:
        return problem
    encoded = _flag(request, "base64_encoded")
    return JSONResponse({"submissions": [
        _lookup(request.app.state.service, token, request, encoded) for token in tokens]})


@router.post("/submissions/batch", status_code=201, summary="Judge0: create several")
async def create_batch(request: Request) -> JSONResponse:
    encoded = _flag(request, "base64_encoded")
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not valid JSON"}, status_code=400)
    items = body.get("submissions") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return JSONResponse({"error": "submissions must be a list"}, status_code=400)
    problem = _batch_size(len(items))
    if problem is not None:
        return problem
    answers: list[dict[str, Any]] = []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise Judge0Error(422, "each submission must be an object")
            token, _ = _start(request.app, item, encoded)
            answers.append({"token": token})
        except Judge0Error as exc:
            answers.append({"error": str(exc)})
    return JSONResponse(answers, status_code=201)


def _batch_size(count: int) -> JSONResponse | None:
    """Judge0's bounds on a batch (its words), or None when ``count`` is within them."""
    if count > MAX_BATCH:
        return JSONResponse({"error": "number of submissions in a batch should be less than "
                                      f"or equal to {MAX_BATCH}"}, status_code=400)
    if count == 0:
        return JSONResponse({"error": "there should be at least one submission in a batch"},
                            status_code=400)
    return None


def _lookup(service: Service, token: str, request: Request, encoded: bool,
            ) -> dict[str, Any] | None:
    stored = service.runs.get(token)
    if stored is None:
        return None
    submission = stored.get("judge0")
    if submission is None:  # queued (1) or running (2)
        status = 2 if stored["state"] == "running" else 1
        submission = {"token": token, "status": {"id": status, "description": STATUSES[status]}}
    return _present(submission, request, encoded)


@router.get("/submissions/{token}", summary="Judge0: a submission")
async def get_one(token: str, request: Request) -> JSONResponse:
    found = _lookup(request.app.state.service, token, request,
                    _flag(request, "base64_encoded"))
    if found is None:
        return JSONResponse({"error": "submission not found"}, status_code=404)
    return JSONResponse(found)


@router.get("/languages", summary="Judge0: languages (1.13.1 ids)")
async def languages(request: Request) -> list[dict[str, Any]]:
    service: Service = request.app.state.service
    have = {lang.name: lang for lang in service.registry.available()}
    return [{"id": i, "name": f"{have[n].display} ({have[n].version})"}
            for i, n in sorted(IDS.items()) if n in have]


@router.get("/languages/{language_id}", summary="Judge0: one language")
async def language(language_id: int, request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    name = IDS.get(language_id)
    have = {lang.name: lang for lang in service.registry.available()}
    if name not in have:
        return JSONResponse({"error": "language not found"}, status_code=404)
    lang = have[name]
    return JSONResponse({
        "id": language_id, "name": f"{lang.display} ({lang.version})", "is_archived": False,
        "source_file": lang.source,
        "compile_cmd": " ".join(lang.compile_argv(lang.source)) if lang.compiled else None,
        "run_cmd": " ".join(lang.run_argv(lang.source))})


@router.get("/statuses", summary="Judge0: statuses")
async def statuses() -> list[dict[str, Any]]:
    return [{"id": i, "description": d} for i, d in STATUSES.items()]


@router.get("/about", summary="Judge0: about")
async def about() -> dict[str, Any]:
    return {"version": VERSION, "homepage": "https://judge0.com",
            "source_code": "execbox (Judge0 CE 1.13.1 compatible API)",
            "maintainer": "execbox"}


@router.get("/config_info", summary="Judge0: configuration")
async def config_info(request: Request) -> dict[str, Any]:
    service: Service = request.app.state.service
    d, caps = service.settings.runner.run_defaults, service.settings.runner.run_caps
    return {
        "maintenance_mode": False, "enable_wait_result": True,
        "enable_compiler_options": False, "allowed_languages_for_compile_options": [],
        "enable_command_line_arguments": True, "enable_submission_delete": False,
        "enable_callbacks": False, "callbacks_max_tries": 0, "callbacks_timeout": 0.0,
        "enable_additional_files": False, "max_queue_size": service.settings.queue,
        "cpu_time_limit": d.cpu_time_ms / 1000, "max_cpu_time_limit": caps.cpu_time_ms / 1000,
        "cpu_extra_time": 0.0, "max_cpu_extra_time": 0.0,
        "wall_time_limit": d.wall_time_ms / 1000,
        "max_wall_time_limit": caps.wall_time_ms / 1000,
        "memory_limit": d.memory_mb * 1024, "max_memory_limit": caps.memory_mb * 1024,
        "stack_limit": d.memory_mb * 1024, "max_stack_limit": caps.memory_mb * 1024,
        "max_processes_and_or_threads": d.processes,
        "max_max_processes_and_or_threads": caps.processes,
        "enable_per_process_and_thread_time_limit": False,
        "allow_enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "max_file_size": d.file_size_mb * 1024, "max_max_file_size": caps.file_size_mb * 1024,
        "number_of_runs": 1, "max_number_of_runs": 1, "redirect_stderr_to_stdout": False,
        "max_extract_size": 0, "enable_batched_submissions": True,
        "max_submission_batch_size": MAX_BATCH, "submission_cache_duration": 1.0,
        "use_docs_as_homepage": False, "enable_network": False,
        "allow_enable_network": False,
    }
