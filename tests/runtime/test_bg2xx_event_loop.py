"""Runtime truth for BG201/BG202/BG203: the documented examples, served by a real uvicorn.

An ``async def`` task runs on the event loop after the response is sent; a blocking call in it
freezes every other request of the worker. A plain ``def`` task runs in the threadpool.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest

from bglint.rules import get
from tests.runtime._server import serve
from tests.runtime._support import load_example

BLOCK_SECONDS = 1.0  # the examples sleep 5 s; a test waits 1 s


def _latency_of_ping_while_task_runs(source: str, trigger: Callable[[httpx.Client], httpx.Response], tmp_path: Path) -> float:
    module = load_example(source, tmp_path)
    module.app.get("/ping")(lambda: {"ok": True})
    with serve(module.app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert trigger(client).status_code == 200  # the response comes first ...
        start = time.perf_counter()
        assert client.get("/ping").status_code == 200  # ... then the task runs: is the worker free?
        return time.perf_counter() - start


def _patched(source: str) -> str:
    return source.replace("time.sleep(5)", f"time.sleep({BLOCK_SECONDS})").replace("asyncio.sleep(5)", f"asyncio.sleep({BLOCK_SECONDS})")


def test_bg201_bad_blocks_concurrent_requests(tmp_path: Path) -> None:
    rule = get("BG201")
    assert "time.sleep(5)" in rule.bad
    waited = _latency_of_ping_while_task_runs(_patched(rule.bad), lambda c: c.post("/inventory/sku-1"), tmp_path)
    assert waited > BLOCK_SECONDS / 2, f"the ping answered in {waited:.3f}s: the loop was not blocked"


def test_bg201_good_leaves_the_loop_free(tmp_path: Path) -> None:
    rule = get("BG201")
    assert "await asyncio.sleep(5)" in rule.good
    waited = _latency_of_ping_while_task_runs(_patched(rule.good), lambda c: c.post("/inventory/sku-1"), tmp_path)
    assert waited < BLOCK_SECONDS * 0.45, f"the ping took {waited:.3f}s"  # blocked: > 0.5 (loaded CI machines add ~0.1-0.4 s)


@pytest.mark.parametrize("which, blocks", [("bad", True), ("good", False)])
def test_bg202_async_task_without_await_blocks_def_does_not(which: str, blocks: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def slow_post(*args: object, **kwargs: object) -> None:  # a slow webhook, without the network
        time.sleep(BLOCK_SECONDS)

    monkeypatch.setattr(requests, "post", slow_post)
    source = getattr(get("BG202"), which)
    waited = _latency_of_ping_while_task_runs(source, lambda c: c.post("/hooks", params={"url": "http://x.invalid"}), tmp_path)
    if blocks:
        assert waited > BLOCK_SECONDS / 2, f"the ping answered in {waited:.3f}s"
    else:
        assert waited < BLOCK_SECONDS * 0.45, f"the ping took {waited:.3f}s"  # blocked: > 0.5 (loaded CI machines add ~0.1-0.4 s)


@pytest.mark.parametrize("which", ["bad", "good"])
def test_bg203_both_forms_run_the_sync_task_in_a_worker_thread(which: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    module = load_example(getattr(get("BG203"), which), tmp_path)
    threads = []
    original = module.write_audit_log

    def recording(event: str) -> None:
        threads.append(threading.current_thread())
        original(event)

    module.write_audit_log = recording  # looked up by name when the endpoint runs
    loop_threads = []

    async def loop_thread() -> dict:
        loop_threads.append(threading.current_thread())
        return {}

    module.app.get("/loop")(loop_thread)
    with TestClient(module.app) as client:
        assert client.post("/events", params={"event": "login"}).status_code == 200
        client.get("/loop")
    assert len(threads) == 1 and loop_threads
    # the wrapper is redundant: without it the sync task already runs off the event loop thread
    assert threads[0] is not loop_threads[-1]
