"""BG107/BG108 variants on the installed FastAPI (main's tests show the rules' own examples).

BG107 (RULES.md, corrections): FastAPI attaches exactly one `BackgroundTasks` to the response: the one
it creates for a parameter annotated with the type and *without* a `Depends(...)` default (shared with
dependencies declaring such a parameter). Tasks on any other object never run, silently, including a
parameter annotated `BackgroundTasks` whose default is `Depends(factory)`. Must not fire: a factory
dependency that takes the injected object and returns it, an object passed as `background=`, or one
carried on an exception to a handler that returns it. A WebSocket route never runs even the injected one.

BG108: an unhandled error drops the tasks like `HTTPException` does (500 instead of 401).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

# One endpoint per way of obtaining the tasks object; each task records its endpoint's path.
VARIANTS = """
from fastapi import BackgroundTasks, Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

app = FastAPI()
events: list = []

def make_tasks():
    return BackgroundTasks()

def shared_tasks(background_tasks: BackgroundTasks):
    return background_tasks

class Deferred(Exception):
    def __init__(self, tasks: BackgroundTasks):
        self.tasks = tasks

@app.exception_handler(Deferred)
async def deferred_handler(request, exc: Deferred):
    return JSONResponse({"queued": True}, status_code=202, background=exc.tasks)

@app.post("/single-task")
def single_task():
    task = BackgroundTask(events.append, "/single-task")
    return {"ok": True}

@app.post("/factory-call")
def factory_call():
    make_tasks().add_task(events.append, "/factory-call")
    return {"ok": True}

@app.post("/depends-factory")
def depends_factory(tasks=Depends(make_tasks)):
    tasks.add_task(events.append, "/depends-factory")
    return {"ok": True}

@app.post("/annotated-depends-factory")
def annotated_depends_factory(tasks: BackgroundTasks = Depends(make_tasks)):
    tasks.add_task(events.append, "/annotated-depends-factory")
    return {"ok": True}

@app.post("/depends-shared")
def depends_shared(tasks=Depends(shared_tasks)):
    tasks.add_task(events.append, "/depends-shared")
    return {"ok": True}

@app.post("/attached-by-hand")
def attached_by_hand():
    tasks = BackgroundTasks()
    tasks.add_task(events.append, "/attached-by-hand")
    return JSONResponse({"ok": True}, background=tasks)

@app.post("/raised-to-handler")
def raised_to_handler(background_tasks: BackgroundTasks):
    background_tasks.add_task(events.append, "/raised-to-handler")
    raise Deferred(background_tasks)
"""

WEBSOCKET = """
from fastapi import BackgroundTasks, FastAPI, WebSocket

app = FastAPI()
events: list = []

@app.websocket("/ws")
async def updates(websocket: WebSocket, background_tasks: BackgroundTasks):
    background_tasks.add_task(events.append, "/ws")
    await websocket.accept()
    await websocket.close()
"""


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return load_example(VARIANTS, tmp_path_factory.mktemp("bg107"))


@pytest.mark.parametrize("path", ["/single-task", "/factory-call", "/depends-factory", "/annotated-depends-factory"])
def test_bg107_tasks_object_not_attached_never_runs(variants, path: str) -> None:  # type: ignore[no-untyped-def]
    variants.events.clear()
    with TestClient(variants.app) as client:
        assert client.post(path).status_code == 200
    assert variants.events == []


@pytest.mark.parametrize(("path", "status"), [("/depends-shared", 200), ("/attached-by-hand", 200), ("/raised-to-handler", 202)])
def test_bg107_tasks_object_that_reaches_a_response_runs(variants, path: str, status: int) -> None:  # type: ignore[no-untyped-def]
    variants.events.clear()
    with TestClient(variants.app) as client:
        assert client.post(path).status_code == status
    assert variants.events == [path]


def test_bg107_websocket_route_never_runs_the_injected_tasks(tmp_path: Path) -> None:
    example = load_example(WEBSOCKET, tmp_path)
    with TestClient(example.app) as client:
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive()["type"] == "websocket.close"
    assert example.events == []


def test_bg108_unhandled_error_drops_the_tasks_too(tmp_path: Path) -> None:
    raised = 'raise HTTPException(status_code=401, detail="bad credentials")'
    rule = get("BG108")
    assert raised in rule.bad
    example = load_example(rule.bad.replace(raised, 'raise RuntimeError("auth backend down")'), tmp_path)
    with TestClient(example.app, raise_server_exceptions=False) as client:
        assert client.post("/login", params={"user": "ann", "password": "guess"}).status_code == 500
        assert example.events == []
        assert client.post("/login", params={"user": "ann", "password": "secret"}).status_code == 200
    assert example.events == [("attempt", "ann")]  # control: no raise, the task runs
