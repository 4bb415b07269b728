"""BG404 on the installed FastAPI: raw request data handed straight to a task is checked by nobody
until the task breaks. Nothing fails at hand-off: with `await request.json()` passed through, a
malformed body gets a 200 and the task fails after the response (only the server log sees it); with
the Pydantic model of the good example the client gets a 422 and no task is queued.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest

from bglint.rules import get
from tests.runtime._asgi_call import request
from tests.runtime._support import load_example

RULE = get("BG404")
JSON = [("content-type", "application/json")]
VALID = b'{"contacts": ["ann@example.com", "bob@example.com"]}'
MALFORMED = [
    (b'{"contact": ["ann@example.com"]}', KeyError),  # typo in the field name
    (b'{"contacts": 2}', TypeError),  # wrong type: len(2)
]


def _load(source: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    example = load_example(source, tmp_path)
    calls: List[Any] = []
    original = example.import_contacts

    def recording(payload: Any) -> None:
        calls.append(payload)
        original(payload)

    example.import_contacts = recording  # looked up when the endpoint runs
    return example, calls


@pytest.mark.parametrize(("body", "error"), MALFORMED, ids=["missing-field", "wrong-type"])
def test_bad_example_accepts_malformed_data_then_the_task_fails(body: bytes, error: type, tmp_path: Path) -> None:
    example, calls = _load(RULE.bad, tmp_path)
    exchange = request(example.app, "POST", "/contacts/import", body=body, headers=JSON)
    assert exchange.status == 200  # the client is told all is well ...
    assert isinstance(exchange.error, error)  # ... the task breaks after the response
    assert len(calls) == 1


@pytest.mark.parametrize(("body", "error"), MALFORMED, ids=["missing-field", "wrong-type"])
def test_good_example_rejects_malformed_data_before_queueing(body: bytes, error: type, tmp_path: Path) -> None:
    example, calls = _load(RULE.good, tmp_path)
    rejected = request(example.app, "POST", "/contacts/import", body=body, headers=JSON)
    assert (rejected.status, rejected.error) == (422, None)  # the client learns of its mistake
    assert rejected.json()["detail"][0]["loc"][:2] == ["body", "contacts"]
    assert calls == []


def test_good_example_runs_the_task_on_valid_data(tmp_path: Path) -> None:
    example, calls = _load(RULE.good, tmp_path)
    accepted = request(example.app, "POST", "/contacts/import", body=VALID, headers=JSON)
    assert (accepted.status, accepted.error) == (200, None)
    assert [c.contacts for c in calls] == [["ann@example.com", "bob@example.com"]]
