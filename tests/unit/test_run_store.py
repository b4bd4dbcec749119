"""The SQLite store of async runs: what a start takes over (only what a server that is gone
left), what a graceful shutdown puts back, Judge0's pages. A real SQLite file, real locks."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

from execbox.scheduler import RunStore


def _state(path, run_id):
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT state, owner FROM runs WHERE id = ?", (run_id,)).fetchone()


def test_a_start_takes_over_only_the_runs_of_servers_that_are_gone(tmp_path):
    path = str(tmp_path / "runs.sqlite")
    first = RunStore(path)
    first.add("r1", {"code": "1"})
    first.start("r1")
    second = RunStore(path)  # another server on the same host, while the first lives
    assert second.unfinished() == []
    first.close()  # the first one dies
    third = RunStore(path)
    assert third.unfinished() == [("r1", {"code": "1"})]
    assert second.unfinished() == []  # taken once, by one server
    third.finish("r1", {"status": "ok"})
    assert third.get("r1") == {"id": "r1", "state": "done", "status": "ok"}
    second.close()
    third.close()
    assert not list((tmp_path / "runs.sqlite.owners").iterdir())  # no lock file left


def test_a_graceful_shutdown_puts_its_unfinished_runs_back_to_queued(tmp_path):
    path = str(tmp_path / "runs.sqlite")
    store = RunStore(path)
    for run_id in ("queued", "running", "done"):
        store.add(run_id, {"code": run_id})
    store.start("running")
    store.start("done")
    store.finish("done", {"status": "ok"})
    assert store.requeue_mine() == ["queued", "running"]
    assert _state(path, "running") == ("queued", None)
    assert _state(path, "queued") == ("queued", None)
    assert _state(path, "done")[0] == "done"
    other = RunStore(path)  # the first is still alive, but gave these up
    assert sorted(run_id for run_id, _ in other.unfinished()) == ["queued", "running"]
    store.close()
    other.close()


def test_a_database_from_before_owners_is_taken_over(tmp_path):
    path = str(tmp_path / "runs.sqlite")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, state TEXT NOT NULL, request "
                   "TEXT NOT NULL, result TEXT, created REAL NOT NULL, finished REAL)")
        db.execute("INSERT INTO runs VALUES ('old', 'running', ?, NULL, 1.0, NULL)",
                   (json.dumps({"code": "x"}),))
    store = RunStore(path)
    assert store.unfinished() == [("old", {"code": "x"})]
    store.close()


def test_judge0_submissions_are_listed_a_page_at_a_time(tmp_path):
    store = RunStore(str(tmp_path / "runs.sqlite"))
    for i in range(5):
        store.add(f"j{i}", {"judge0_request": {"language_id": 71}})
    store.add("native", {"language": "python"})
    assert store.page("judge0_request", 0, 2) == (5, ["j0", "j1"])
    assert store.page("judge0_request", 4, 2) == (5, ["j4"])
    store.close()
