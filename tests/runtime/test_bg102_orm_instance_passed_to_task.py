"""BG102 on the installed FastAPI: an object loaded through a `scope="function"` session is
detached and expired when the task reads it; loading by id inside the task works."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG102")


def _seeded(source: str, tmp_path):
    example = load_example(source, tmp_path)
    example.Base.metadata.create_all(example.engine)
    with example.SessionLocal() as db:
        db.add(example.User(id=1, email="ann@example.com"))
        db.commit()
    return example


def test_bad_example_task_reads_a_detached_object(tmp_path) -> None:
    example = _seeded(RULE.bad, tmp_path)
    assert TestClient(example.app).post("/users/1/welcome").status_code == 200
    assert example.events == ["DetachedInstanceError"]


def test_good_example_task_loads_its_own_copy(tmp_path) -> None:
    example = _seeded(RULE.good, tmp_path)
    assert TestClient(example.app).post("/users/1/welcome").status_code == 200
    assert example.events == ["ann@example.com"]
