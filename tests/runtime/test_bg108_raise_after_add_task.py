"""BG108 on the installed FastAPI: a task added before `raise HTTPException` never runs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG108")
WRONG = {"user": "ann", "password": "guess"}


def test_bad_example_error_response_drops_the_task(tmp_path) -> None:
    example = load_example(RULE.bad, tmp_path)
    assert TestClient(example.app).post("/login", params=WRONG).status_code == 401
    assert example.events == []


def test_good_example_error_response_keeps_the_task(tmp_path) -> None:
    example = load_example(RULE.good, tmp_path)
    assert TestClient(example.app).post("/login", params=WRONG).status_code == 401
    assert example.events == [("attempt", "ann")]
