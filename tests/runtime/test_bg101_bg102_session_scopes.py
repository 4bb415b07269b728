"""BG101/BG102 on the installed FastAPI: what the closed session costs, and where the premise is false.

BG101 (RULES.md, corrections): a closed SQLAlchemy session used by the task raises nothing; it
silently begins a new transaction. Shown here with a task that writes: the write is never committed,
the connection it checked out stays in a transaction nobody ends, and it holds SQLite's write lock
against every other writer. (Main's BG101 test shows the order of events for the rule's example.)

BG102: with the default dependency scope ("request") the session closes only after the background
tasks (FastAPI >= 0.118), so the rule's bad example works there: the premise holds only for
`Depends(..., scope="function")` (and for the default scope on 0.106 - 0.117, not run here).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import List

import pytest
from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

VISITS = """
from fastapi import BackgroundTasks, Depends, FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

engine = create_engine("sqlite:///./app.db", connect_args={"check_same_thread": False})
SessionLocal = sessionmaker(engine)
events: list = []

def get_db():
    db = SessionLocal()
    try:
        yield db
        db.commit()
    finally:
        db.close()
        events.append("session closed")

def record_visit(db: Session, path: str):
    events.append("task started")
    db.execute(text("INSERT INTO visits (path) VALUES (:path)"), {"path": path})

app = FastAPI()

@app.get("/items")
def list_items(background_tasks: BackgroundTasks, db: Session = Depends(get_db, scope="function")):
    background_tasks.add_task(record_visit, db, "/items")
    return db.execute(text("SELECT path FROM visits")).scalars().all()
"""


def _load_visits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> ModuleType:
    """Import ``source`` with ``./app.db`` in ``tmp_path`` and its ``visits`` table created."""
    monkeypatch.chdir(tmp_path)
    with closing(sqlite3.connect(tmp_path / "app.db")) as conn:
        conn.execute("CREATE TABLE visits (path TEXT)")
    return load_example(source, tmp_path)


def _stored_paths(tmp_path: Path) -> List[str]:
    """What another connection sees as committed."""
    with closing(sqlite3.connect(tmp_path / "app.db", timeout=0.05)) as conn:
        return [row[0] for row in conn.execute("SELECT path FROM visits")]


def test_bg101_task_write_on_a_closed_session_is_lost_and_locks_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _load_visits(tmp_path, monkeypatch, VISITS)
    handed_over = []
    original_task = mod.record_visit

    def spy(db, path):  # type: ignore[no-untyped-def]  # keeps the session the endpoint handed over
        handed_over.append(db)
        original_task(db, path)

    monkeypatch.setattr(mod, "record_visit", spy)
    try:
        with TestClient(mod.app) as client:
            assert client.get("/items").status_code == 200  # nothing raised, the client saw success
        assert mod.events == ["session closed", "task started"]
        session = handed_over[0]
        assert session.in_transaction()  # the closed session silently began a new transaction ...
        assert mod.engine.pool.checkedout() == 1  # ... holding a pooled connection nobody returns ...
        assert _stored_paths(tmp_path) == []  # ... whose write is never committed ...
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):  # ... and blocks other writers
            with closing(sqlite3.connect(tmp_path / "app.db", timeout=0.05)) as other:
                other.execute("INSERT INTO visits (path) VALUES ('/other')")
    finally:
        for session in handed_over:
            session.close()
        mod.engine.dispose()


def test_bg101_default_scope_task_write_is_committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same app with the default scope: the dependency's exit code (commit, close) runs after the task."""
    mod = _load_visits(tmp_path, monkeypatch, VISITS.replace(', scope="function"', ""))
    try:
        with TestClient(mod.app) as client:
            assert client.get("/items").status_code == 200
        assert mod.events == ["task started", "session closed"]
        assert _stored_paths(tmp_path) == ["/items"]
        assert mod.engine.pool.checkedout() == 0
    finally:
        mod.engine.dispose()


def test_bg102_default_scope_bad_example_works(tmp_path: Path) -> None:
    rule = get("BG102")
    assert 'Depends(get_db, scope="function")' in rule.bad
    example = load_example(rule.bad.replace(', scope="function"', ""), tmp_path)
    example.Base.metadata.create_all(example.engine)
    with example.SessionLocal() as db:
        db.add(example.User(id=1, email="ann@example.com"))
        db.commit()
    assert TestClient(example.app).post("/users/1/welcome").status_code == 200
    assert example.events == ["ann@example.com"]  # refreshed through the still-open session
