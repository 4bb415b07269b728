"""BG101 on the installed FastAPI: a `scope="function"` yield dependency closes before the task;
a request-scoped one (the default) closes only after the response's tasks (FastAPI >= 0.118)."""

from __future__ import annotations

import textwrap

from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG101")


def test_bad_example_task_gets_a_closed_session(tmp_path) -> None:
    example = load_example(RULE.bad, tmp_path)
    response = TestClient(example.app).post("/users/7/audit")
    assert response.status_code == 200
    assert example.events == ["session closed", "task started"]


def test_good_example_task_opens_its_own_session(tmp_path) -> None:
    example = load_example(RULE.good, tmp_path)
    response = TestClient(example.app).post("/users/7/audit")
    assert response.status_code == 200
    assert example.events == ["task started", "session opened in task", "session closed"]


def test_request_scoped_dependency_closes_after_the_task(tmp_path) -> None:
    """Why the rule is silent for a default-scope dependency on a current FastAPI."""
    source = textwrap.dedent(RULE.bad).replace(', scope="function"', "")
    example = load_example(source, tmp_path)
    TestClient(example.app).post("/users/7/audit")
    assert example.events == ["task started", "session closed"]
