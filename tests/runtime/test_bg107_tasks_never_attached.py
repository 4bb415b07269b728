"""BG107 on the installed FastAPI: tasks added to a `BackgroundTasks()` built in the endpoint never run."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG107")


def test_bad_example_task_never_runs(tmp_path) -> None:
    example = load_example(RULE.bad, tmp_path)
    assert TestClient(example.app).post("/signup", params={"email": "a@example.com"}).json() == {"ok": True}
    assert example.events == []


def test_good_example_task_runs(tmp_path) -> None:
    example = load_example(RULE.good, tmp_path)
    assert TestClient(example.app).post("/signup", params={"email": "a@example.com"}).json() == {"ok": True}
    assert example.events == ["a@example.com"]
