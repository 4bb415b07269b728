"""BG501 under two real uvicorn worker processes (as `--workers 2` or two pods would run the app).

The rule's examples get a status endpoint appended. The task runs in the worker that took the POST;
the other worker's copy of the module-level dict never changes, so a status request routed there
says 404. The good example's `app.store.redis_client` is provided by a stand-in client backed by an
SQLite file (no Redis server needed): a store outside the process, which both workers see.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Dict, Iterator, List

import httpx
import pytest

from bglint.rules import get
from tests.runtime._server import Worker, serve_workers

RULE = get("BG501")

BAD_STATUS = """

from fastapi import HTTPException


@app.get("/reports/{report_id}")
def status(report_id: str):
    if report_id not in REPORTS:
        raise HTTPException(404)
    return {"status": REPORTS[report_id]}
"""

GOOD_STATUS = """

from fastapi import HTTPException


@app.get("/reports/{report_id}")
def status(report_id: str):
    value = redis_client.get(f"report:{report_id}")
    if value is None:
        raise HTTPException(404)
    return {"status": value}
"""

# app/store.py: a key-value client with Redis's set/get, kept in an SQLite file shared by the workers.
STORE = '''
import os
import sqlite3


class _Client:
    def __init__(self, path):
        self._path = path
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)")

    def set(self, key, value):
        with sqlite3.connect(self._path) as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    def get(self, key):
        with sqlite3.connect(self._path) as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


redis_client = _Client(os.environ["STORE_DB"])
'''


def _project(root: Path, source: str) -> Worker:
    """The example as ``reports_app.py`` next to an ``app`` package holding ``app/store.py``."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("", encoding="utf-8")
    (root / "app" / "store.py").write_text(STORE, encoding="utf-8")
    (root / "reports_app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return Worker(root, "reports_app", {"STORE_DB": str(root / "store.sqlite3")})


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, List[str]]]:
    """Two workers for the bad example and two for the good one, all started at once."""
    assert "REPORTS: dict = {}" in RULE.bad
    assert "from app.store import redis_client" in RULE.good
    bad = _project(tmp_path_factory.mktemp("bg501_bad"), RULE.bad + BAD_STATUS)
    good = _project(tmp_path_factory.mktemp("bg501_good"), RULE.good + GOOD_STATUS)
    with serve_workers([bad, bad, good, good]) as urls:
        yield {"bad": urls[:2], "good": urls[2:]}


def _status_seen_by_each_worker(worker_a: str, worker_b: str) -> List[int]:
    with httpx.Client(timeout=10.0) as client:
        assert client.post(f"{worker_a}/reports/r1").status_code == 200
        deadline = time.monotonic() + 10.0  # the task runs just after the response: wait until A sees it
        while client.get(f"{worker_a}/reports/r1").status_code != 200:
            assert time.monotonic() < deadline, "the task never ran on worker A"
            time.sleep(0.02)
        return [client.get(f"{url}/reports/r1").status_code for url in (worker_a, worker_b)]


def test_bad_example_other_worker_never_sees_the_tasks_write(workers: Dict[str, List[str]]) -> None:
    assert _status_seen_by_each_worker(*workers["bad"]) == [200, 404]


def test_good_example_shared_store_is_seen_by_both_workers(workers: Dict[str, List[str]]) -> None:
    assert _status_seen_by_each_worker(*workers["good"]) == [200, 200]
