"""Runtime truth for BG301-BG305: the rules' documented examples in a real FastAPI app.

TestClient runs background tasks before it returns the response, so what a task did (or the
exception it raised) is observable right after the request.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from pathlib import Path
from typing import List

import pytest
from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example


def _recorder(module, name: str) -> List[tuple]:  # type: ignore[no-untyped-def]
    """Replace ``module.name`` (a task) with a wrapper that records its calls, then calls it."""
    calls: List[tuple] = []
    original = getattr(module, name)
    if asyncio.iscoroutinefunction(original):
        async def record(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append((args, kwargs))
            return await original(*args, **kwargs)
    else:
        def record(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append((args, kwargs))
            return original(*args, **kwargs)
    setattr(module, name, record)
    return calls


def test_bg301_bad_runs_the_task_in_the_request_then_fails(tmp_path: Path) -> None:
    module = load_example(get("BG301").bad, tmp_path)
    calls = _recorder(module, "send_email")
    # the call ran during the request; its return value, None, was scheduled and fails later
    response = TestClient(module.app, raise_server_exceptions=False).post("/signup", params={"email": "a@example.com"})
    assert response.status_code == 200
    assert calls == [(("a@example.com",), {})]
    with pytest.raises(TypeError, match="must be callable"):
        TestClient(module.app).post("/signup", params={"email": "b@example.com"})


def test_bg301_async_task_called_leaves_a_coroutine_never_awaited(tmp_path: Path) -> None:
    source = get("BG301").bad.replace("def send_email", "async def send_email")
    module = load_example(source, tmp_path)
    client = TestClient(module.app, raise_server_exceptions=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = client.post("/signup", params={"email": "a@example.com"})
        gc.collect()
    assert response.status_code == 200  # the client sees success ...
    # ... the coroutine object was "scheduled" and never awaited: the e-mail is never sent
    assert any("was never awaited" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_bg301_good_runs_after_the_response(tmp_path: Path) -> None:
    module = load_example(get("BG301").good, tmp_path)
    calls = _recorder(module, "send_email")
    assert TestClient(module.app).post("/signup", params={"email": "a@example.com"}).status_code == 200
    assert calls == [(("a@example.com",), {})]


def test_bg302_bad_fails_with_type_error_and_the_task_never_runs(tmp_path: Path) -> None:
    module = load_example(get("BG302").bad, tmp_path)
    calls = _recorder(module, "notify")
    with pytest.raises(TypeError, match="NoneType.*await"):
        TestClient(module.app).post("/users/7/notify")
    assert calls == []
    response = TestClient(module.app, raise_server_exceptions=False).post("/users/7/notify")
    assert response.status_code == 500


SUBCLASS = """
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
done = []


class AuditedTasks(BackgroundTasks):
    async def add_task(self, func, *args, **kwargs) -> None:
        super().add_task(func, *args, **kwargs)


@app.post("/injected")
async def injected(tasks: AuditedTasks):
    await tasks.add_task(done.append, "injected")


@app.post("/own")
async def own():
    tasks = AuditedTasks()
    await tasks.add_task(done.append, "own")
    return JSONResponse({}, background=tasks)
"""


def test_bg302_good_works(tmp_path: Path) -> None:
    module = load_example(get("BG302").good, tmp_path)
    calls = _recorder(module, "notify")
    assert TestClient(module.app).post("/users/7/notify").status_code == 200
    assert calls == [((7,), {})]


def test_bg302_subclass_only_when_the_code_builds_the_instance(tmp_path: Path) -> None:
    # RULES.md says an `async def add_task` subclass is exempt. Real FastAPI injects a *plain*
    # BackgroundTasks for a parameter annotated with the subclass, so awaiting still fails there;
    # only an instance the endpoint builds itself (and attaches to its response) is awaitable.
    module = load_example(SUBCLASS, tmp_path)
    client = TestClient(module.app)
    with pytest.raises(TypeError, match="NoneType.*await"):
        client.post("/injected")
    assert client.post("/own").status_code == 200
    assert module.done == ["own"]


def test_bg303_bad_every_task_sees_the_last_value(tmp_path: Path) -> None:
    module = load_example(get("BG303").bad, tmp_path)
    calls = _recorder(module, "send_email")
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    assert TestClient(module.app).post("/newsletter", json=emails).status_code == 200
    assert [args for args, _ in calls] == [("c@example.com",)] * 3


def test_bg303_good_each_task_gets_its_value(tmp_path: Path) -> None:
    module = load_example(get("BG303").good, tmp_path)
    calls = _recorder(module, "send_email")
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    assert TestClient(module.app).post("/newsletter", json=emails).status_code == 200
    assert [args for args, _ in calls] == [(e,) for e in emails]


def test_bg304_bad_succeeds_for_the_client_then_the_task_raises(tmp_path: Path) -> None:
    module = load_example(get("BG304").bad, tmp_path)
    client = TestClient(module.app, raise_server_exceptions=False)
    response = client.post("/signup", params={"email": "a@example.com"})
    assert response.status_code == 200  # the response went out before the task was called
    with pytest.raises(TypeError, match="unexpected keyword argument 'subjet'"):
        TestClient(module.app).post("/signup", params={"email": "a@example.com"})


def test_bg304_good_works(tmp_path: Path) -> None:
    module = load_example(get("BG304").good, tmp_path)
    calls = _recorder(module, "send_email")
    assert TestClient(module.app).post("/signup", params={"email": "a@example.com"}).status_code == 200
    assert calls == [(("a@example.com",), {"subject": "Welcome"})]


def test_bg305_event_loop_keeps_only_a_weak_reference(tmp_path: Path) -> None:
    # the premise behind BG305, as asyncio documents it: the loop keeps only weak references to
    # tasks, so a task nobody references, waiting on something the loop does not hold, is
    # collected before it finishes (tests/runtime/test_bg305_dropped_task_lost.py: in an app)
    async def main() -> bool:
        import weakref

        async def work() -> None:
            await asyncio.get_running_loop().create_future()  # held only by this coroutine

        ref = weakref.ref(asyncio.create_task(work()))
        await asyncio.sleep(0)  # the task runs up to its await
        gc.collect()
        return ref() is None

    assert asyncio.run(main())
