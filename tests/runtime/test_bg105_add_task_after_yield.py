"""BG105 on the installed FastAPI: a task added after a dependency's `yield` never runs; one added
before it does; with `scope="function"` the late task does run (why the rule skips that case)."""

from __future__ import annotations

import textwrap

from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG105")


def test_bad_example_late_task_never_runs(tmp_path) -> None:
    example = load_example(RULE.bad, tmp_path)
    assert TestClient(example.app).get("/profile").json() == {"user": "user-1"}
    assert example.events == []


def test_good_example_task_runs(tmp_path) -> None:
    example = load_example(RULE.good, tmp_path)
    assert TestClient(example.app).get("/profile").json() == {"user": "user-1"}
    assert example.events == ["request finished"]


def test_function_scoped_dependency_late_task_runs(tmp_path) -> None:
    source = textwrap.dedent(RULE.bad).replace("Depends(audited)", 'Depends(audited, scope="function")')
    example = load_example(source, tmp_path)
    TestClient(example.app).get("/profile")
    assert example.events == ["request finished"]
