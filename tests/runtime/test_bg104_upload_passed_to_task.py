"""BG104 on the installed FastAPI: a coroutine started from the endpoint reads a closed upload;
reading the bytes first works; `add_task` with the file itself still works on FastAPI >= 0.118."""

from __future__ import annotations

import time

from fastapi import BackgroundTasks, FastAPI, UploadFile
from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._support import load_example

RULE = get("BG104")
FILES = {"file": ("report.csv", b"a,b\n1,2\n")}


def _wait_for(events: list, seconds: float = 1.0) -> None:
    deadline = time.monotonic() + seconds
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)


def test_bad_example_reads_a_closed_file(tmp_path) -> None:
    example = load_example(RULE.bad, tmp_path)
    with TestClient(example.app) as client:
        assert client.post("/upload", files=FILES).status_code == 200
        _wait_for(example.events)
    assert example.events == ["I/O operation on closed file."]


def test_good_example_passes_the_bytes(tmp_path) -> None:
    example = load_example(RULE.good, tmp_path)
    with TestClient(example.app) as client:
        assert client.post("/upload", files=FILES).status_code == 200
    assert example.events == [("report.csv", b"a,b\n1,2\n")]


def test_add_task_with_the_file_still_reads_it_on_current_fastapi() -> None:
    """Why the rule leaves `add_task(process, file)` alone unless the target is 0.106-0.117."""
    events: list = []
    app = FastAPI()

    def process(file: UploadFile) -> None:
        events.append(file.file.read())

    @app.post("/upload")
    def upload(file: UploadFile, tasks: BackgroundTasks):
        tasks.add_task(process, file)

    with TestClient(app) as client:
        client.post("/upload", files=FILES)
    assert events == [b"a,b\n1,2\n"]
