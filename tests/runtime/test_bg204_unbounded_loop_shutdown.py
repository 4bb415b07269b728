"""BG204 under a real uvicorn: an unbounded loop in a background task keeps the server from shutting
down gracefully.

A background task is part of its request's ASGI call; on a graceful stop (SIGTERM sets `should_exit`)
uvicorn waits for those calls ("Waiting for background tasks to complete"), with no limit unless
`--timeout-graceful-shutdown` is set. The rule's `while True` task therefore keeps the process alive
until it is killed, and dies half-way whenever that happens; the bounded task finishes and lets it exit.
Only the unbounded-loop part of BG204 is shown here (CPU-bound work in an async task blocks the loop
like BG201's measurement).

The examples run as written, with their module's `time` and `print` replaced: `time.sleep(s)` sleeps
s/50 and ends the task (raises) once the test says stop, so no polling thread outlives the test.
"""

from __future__ import annotations

import threading
import time
import types
from pathlib import Path
from typing import List, Tuple

import httpx

from bglint.rules import get
from tests.runtime._server import serve_in_thread
from tests.runtime._support import load_example

RULE = get("BG204")
SCALE = 1 / 50


class _Stopped(Exception):
    pass


def _load(source: str, tmp_path: Path) -> Tuple[types.ModuleType, List[tuple], threading.Event]:
    example = load_example(source, tmp_path)
    polls: List[tuple] = []
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds * SCALE):
            raise _Stopped

    example.time = types.SimpleNamespace(sleep=sleep)  # the task looks both up at call time
    example.print = lambda *args: polls.append(args)
    return example, polls, stop


def _wait_for(predicate, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_bad_example_blocks_graceful_shutdown(tmp_path: Path) -> None:
    assert "while True:" in RULE.bad
    example, polls, stop = _load(RULE.bad, tmp_path)
    try:
        with serve_in_thread(example.app) as live:
            assert httpx.post(f"{live.url}/watch", params={"url": "http://x.invalid"}, timeout=10.0).status_code == 200
            _wait_for(lambda: len(polls) > 0)
            live.server.should_exit = True  # what uvicorn's SIGTERM handler sets
            live.thread.join(timeout=0.5)
            assert live.thread.is_alive()  # still "Waiting for background tasks to complete"
            before = len(polls)
            _wait_for(lambda: len(polls) > before)  # and the loop keeps going during the shutdown
            stop.set()  # the task ends (raises): now the server can finish its shutdown
            live.thread.join(timeout=10.0)
            assert not live.thread.is_alive()
    finally:
        stop.set()
    assert set(polls) == {("polling", "http://x.invalid")}


def test_good_example_finishes_and_lets_the_server_stop(tmp_path: Path) -> None:
    example, polls, stop = _load(RULE.good, tmp_path)
    try:
        with serve_in_thread(example.app) as live:
            assert httpx.post(f"{live.url}/watch", params={"url": "http://x.invalid"}, timeout=10.0).status_code == 200
            live.server.should_exit = True
            live.thread.join(timeout=10.0)
            assert not live.thread.is_alive()
    finally:
        stop.set()
    assert polls == [("polling", "http://x.invalid")] * 3  # uvicorn let the bounded task finish first
