"""BG103 boundaries on the installed FastAPI/Starlette (main's BG103 test shows the rule's examples
under uvicorn: the task's body read gets ClientDisconnect).

- Must not fire (RULES.md, corrections): headers, URL and method come from the ASGI scope and stay
  valid in the task; a body FastAPI already read (the endpoint declares a body parameter) is cached
  on the same `Request`, so `request.json()` in the task returns it. Both under a real uvicorn.
- Starlette's TestClient still hands out the unread body after the response: the rule's bad example
  "works" there, so runtime proofs of BG103 need a real server.
- WebSocket: tasks added in a WebSocket endpoint never run (no response carries them); a WebSocket
  used by a coroutine that outlives the endpoint raises once the endpoint closed it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, List

import httpx
import starlette.websockets
from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._server import serve
from tests.runtime._support import load_example

# Starlette 1.x raises WebSocketDisconnected; before it (all Python 3.9 can install), RuntimeError
CLOSED_ERROR = getattr(starlette.websockets, "WebSocketDisconnected", RuntimeError)

HEADERS_ONLY = """
from fastapi import BackgroundTasks, FastAPI, Request

app = FastAPI()
events: list = []

def log_access(request: Request):
    events.append((request.method, request.url.path, request.headers["x-request-id"]))

@app.post("/webhooks")
def receive_webhook(request: Request, background_tasks: BackgroundTasks):
    background_tasks.add_task(log_access, request)
    return {"accepted": True}
"""

BODY_ALREADY_READ = """
from fastapi import BackgroundTasks, FastAPI, Request
from pydantic import BaseModel

app = FastAPI()
events: list = []

class Event(BaseModel):
    kind: str

async def store_raw(request: Request):
    try:
        events.append(await request.json())
    except Exception as exc:
        events.append(type(exc).__name__)

@app.post("/webhooks")
async def receive_webhook(event: Event, request: Request, background_tasks: BackgroundTasks):
    background_tasks.add_task(store_raw, request)
    return {"accepted": event.kind}
"""

WEBSOCKET_TASK = """
from fastapi import BackgroundTasks, FastAPI, WebSocket

app = FastAPI()
events: list = []

async def push_update(websocket: WebSocket):
    await websocket.send_text("update")
    events.append("update pushed")

@app.websocket("/ws")
async def updates(websocket: WebSocket, background_tasks: BackgroundTasks):
    await websocket.accept()
    background_tasks.add_task(push_update, websocket)
    await websocket.send_text("hello")
    await websocket.close()
"""

WEBSOCKET_DETACHED = """
import asyncio
import threading
from fastapi import FastAPI, WebSocket

app = FastAPI()
events: list = []
done = threading.Event()

async def push_update(websocket: WebSocket):
    try:
        await asyncio.sleep(0.05)
        await websocket.send_text("update")
        events.append("update pushed")
    except Exception as exc:
        events.append(exc)
    finally:
        done.set()

@app.websocket("/ws")
async def updates(websocket: WebSocket):
    await websocket.accept()
    app.state.pending = asyncio.create_task(push_update(websocket))
    await websocket.send_text("hello")
    await websocket.close()
"""


def _wait_for(events: List[Any], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)


def test_headers_url_and_method_stay_valid_in_the_task(tmp_path: Path) -> None:
    example = load_example(HEADERS_ONLY, tmp_path)
    with serve(example.app) as url:
        response = httpx.post(f"{url}/webhooks", json={}, headers={"x-request-id": "req-42"}, timeout=10.0)
        _wait_for(example.events)
    assert response.json() == {"accepted": True}
    assert example.events == [("POST", "/webhooks", "req-42")]


def test_body_already_read_by_fastapi_stays_readable_in_the_task(tmp_path: Path) -> None:
    example = load_example(BODY_ALREADY_READ, tmp_path)
    with serve(example.app) as url:
        response = httpx.post(f"{url}/webhooks", json={"kind": "paid"}, timeout=10.0)
        _wait_for(example.events)
    assert response.json() == {"accepted": "paid"}
    assert example.events == [{"kind": "paid"}]  # not "ClientDisconnect"


def test_testclient_hides_the_bad_example(tmp_path: Path) -> None:
    example = load_example(get("BG103").bad, tmp_path)
    with TestClient(example.app) as client:
        assert client.post("/webhook", json={"order": 42}).status_code == 200
    assert example.events == [{"order": 42}]  # under uvicorn: ["ClientDisconnect"]


def test_websocket_endpoint_tasks_never_run(tmp_path: Path) -> None:
    example = load_example(WEBSOCKET_TASK, tmp_path)
    with TestClient(example.app) as client:
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "hello"
            assert websocket.receive()["type"] == "websocket.close"
    assert example.events == []


def test_websocket_used_after_the_endpoint_closed_it_raises(tmp_path: Path) -> None:
    example = load_example(WEBSOCKET_DETACHED, tmp_path)
    with TestClient(example.app) as client:
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "hello"
        assert example.done.wait(5.0)
    assert len(example.events) == 1 and isinstance(example.events[0], CLOSED_ERROR)
    assert str(example.events[0]) == 'Cannot call "send" once a close message has been sent.'
