"""BG103 under a real server: once the response is complete uvicorn answers `receive` with
`http.disconnect`, so a task reading the body gets `ClientDisconnect`. (Starlette's TestClient keeps
handing out the body, so it cannot show this; the test starts uvicorn on a free local port.)"""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import httpx
import pytest
import uvicorn

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG103")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(app) -> str:
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 5
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=5)


def _post_and_wait(url: str, events: list) -> None:
    assert httpx.post(f"{url}/webhook", json={"order": 42}).status_code == 200
    deadline = time.monotonic() + 2
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)


def test_bad_example_task_cannot_read_the_body(tmp_path, serve) -> None:
    example = load_example(RULE.bad, tmp_path)
    _post_and_wait(serve(example.app), example.events)
    assert example.events == ["ClientDisconnect"]


def test_good_example_task_gets_the_payload(tmp_path, serve) -> None:
    example = load_example(RULE.good, tmp_path)
    _post_and_wait(serve(example.app), example.events)
    assert example.events == [{"order": 42}]
