"""BG106 on the installed FastAPI: a response's own `background=` wins, the injected tasks never run."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG106")


def test_bad_example_drops_the_injected_task(tmp_path) -> None:
    example = load_example(RULE.bad, tmp_path)
    assert TestClient(example.app).post("/orders/5").json() == {"id": 5}
    assert example.events == [("stock", 5)]


def test_good_example_runs_both_tasks(tmp_path) -> None:
    example = load_example(RULE.good, tmp_path)
    assert TestClient(example.app).post("/orders/5").json() == {"id": 5}
    assert example.events == [("receipt", 5), ("stock", 5)]
