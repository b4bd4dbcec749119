"""Asynchronous runs kept in SQLite: a restart loses no finished result, and a run that
was queued or running when the server died is queued again (never lost, never reported
twice: a run has one row, and only its final state is ever answered).

A graceful shutdown leaves this process's unfinished runs ``queued`` (``requeue_mine``):
the next start runs them again. Several servers may share one file (one host, one state
dir): each row names its owner, a store that holds ``flock`` on its own lock file beside
the database while it lives; a start takes over only the unfinished runs of owners that
are gone, never those another live server is running."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from typing import Any

from execbox.locks import try_lock

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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "owner" not in columns:  # a database from before owners: its rows have none
            with contextlib.suppress(sqlite3.OperationalError):  # another store added it
                self._db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
        self._lock = threading.Lock()
        self._mine: set[str] = set()  # runs this process took and has not finished
        self._owners = path + ".owners"
        os.makedirs(self._owners, mode=0o700, exist_ok=True)
        self.owner = uuid.uuid4().hex
        self._owner_fd = self._hold(self.owner)
        assert self._owner_fd is not None

    def _hold(self, owner: str) -> int | None:
        """Lock ``owner``'s file: the descriptor, or None if a live store holds it."""
        return try_lock(os.path.join(self._owners, f"{owner}.lock"))

    def _gone(self, owner: str | None) -> bool:
        """No live store owns runs as ``owner`` (its lock file is free); the file goes."""
        if owner is None:
            return True
        if owner == self.owner:
            return False
        if not os.path.exists(os.path.join(self._owners, f"{owner}.lock")):
            return True
        fd = self._hold(owner)
        if fd is None:
            return False
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self._owners, f"{owner}.lock"))
        os.close(fd)
        return True

    def add(self, run_id: str, request: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT INTO runs (id, state, request, created, owner) VALUES "
                             "(?, 'queued', ?, ?, ?)",
                             (run_id, json.dumps(request), time.time(), self.owner))
            self._mine.add(run_id)

    def start(self, run_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET state = 'running', owner = ? WHERE id = ?",
                             (self.owner, run_id))
            self._mine.add(run_id)

    def finish(self, run_id: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET state = 'done', result = ?, finished = ? "
                             "WHERE id = ?", (json.dumps(result), time.time(), run_id))
            self._mine.discard(run_id)

    def requeue_mine(self) -> list[str]:
        """At shutdown: this process's runs not done go back to ``queued`` (the next start
        runs them). Their ids."""
        with self._lock:
            ids = sorted(self._mine)
            for run_id in ids:
                self._db.execute("UPDATE runs SET state = 'queued' WHERE id = ? AND "
                                 "state = 'running'", (run_id,))
                self._db.execute("UPDATE runs SET owner = NULL WHERE id = ? AND "
                                 "state != 'done'", (run_id,))
            self._mine.clear()
        return ids

    def page(self, kind: str, offset: int, limit: int) -> tuple[int, list[str]]:
        """Ids of the runs whose stored request has the key ``kind`` (e.g. Judge0's
        "judge0_request"), oldest first: the total and one page."""
        where = "WHERE json_extract(request, ?) IS NOT NULL"
        path = f"$.{kind}"
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM runs {where}",  # noqa: S608
                                     (path,)).fetchone()[0]
            rows = self._db.execute(f"SELECT id FROM runs {where} "  # noqa: S608
                                    "ORDER BY created, id LIMIT ? OFFSET ?",
                                    (path, limit, offset)).fetchall()
        return int(total), [row[0] for row in rows]

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
        """Runs a server that is gone left queued or running, now this store's: to queue
        again. A live server's runs are left to it."""
        with self._lock:
            rows = self._db.execute("SELECT id, request, owner FROM runs WHERE "
                                    "state != 'done' ORDER BY created").fetchall()
            gone: dict[str | None, bool] = {}
            taken = []
            for run_id, request, owner in rows:
                if owner not in gone:
                    gone[owner] = self._gone(owner)
                if not gone[owner]:
                    continue
                claimed = self._db.execute(
                    "UPDATE runs SET owner = ? WHERE id = ? AND state != 'done' AND "
                    "owner IS ?", (self.owner, run_id, owner)).rowcount
                if claimed:  # not taken by another store starting at the same moment
                    self._mine.add(run_id)
                    taken.append((run_id, json.loads(request)))
        return taken

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._owner_fd is not None:
                # rows still naming this owner are taken over by the next start
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self._owners, f"{self.owner}.lock"))
                os.close(self._owner_fd)
                self._owner_fd = None
