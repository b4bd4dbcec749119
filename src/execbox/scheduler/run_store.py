"""Asynchronous runs kept in SQLite: a restart loses no finished result, and a run that
was queued or running when the server died is queued again (never lost, never reported
twice: a run has one row, and only its final state is ever answered)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,            -- queued | running | done
    request TEXT NOT NULL,          -- the validated request, JSON
    result TEXT,                    -- the answer, JSON, once done
    created REAL NOT NULL,
    finished REAL
)
"""


class RunStore:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, run_id: str, request: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT INTO runs (id, state, request, created) VALUES "
                             "(?, 'queued', ?, ?)", (run_id, json.dumps(request), time.time()))

    def start(self, run_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET state = 'running' WHERE id = ?", (run_id,))

    def finish(self, run_id: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET state = 'done', result = ?, finished = ? "
                             "WHERE id = ?", (json.dumps(result), time.time(), run_id))

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT state, result FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()
        if row is None:
            return None
        state, result = row
        answer: dict[str, Any] = {"id": run_id, "state": state}
        if result is not None:
            answer.update(json.loads(result))
        return answer

    def unfinished(self) -> list[tuple[str, dict[str, Any]]]:
        """Runs a previous server left queued or running: to queue again."""
        with self._lock:
            rows = self._db.execute("SELECT id, request FROM runs WHERE state != 'done' "
                                    "ORDER BY created").fetchall()
        return [(run_id, json.loads(request)) for run_id, request in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
