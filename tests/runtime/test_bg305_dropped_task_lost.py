"""BG305 on the installed FastAPI, with the rule's examples (their `refresh_cache` replaced per test,
looked up by name when the endpoint runs). Two things are observable, both deterministic here:

1. The dropped task's exception never reaches the server: the app's ASGI call ends cleanly, and the
   error surfaces only when the finished task is destroyed, through the loop's exception handler as
   "Task exception was never retrieved". With the good example (`add_task`) the error reaches the
   server, as any failing background task's does.
2. The event loop keeps only weak references to tasks: a dropped task is collected mid-flight if
   nothing else holds it ("Task was destroyed but it is pending!"). That needs the task to wait on
   something the loop does not reference (here a future only the task knows); a task in
   `asyncio.sleep` or socket I/O is held by the loop's timer/selector. Keeping a reference (the
   asyncio docs' idiom) prevents it.
"""

from __future__ import annotations

import asyncio
import gc
import types
from pathlib import Path
from typing import Any, Dict, List, Tuple

from bglint.rules import get
from tests.runtime._asgi_call import Exchange, call_app
from tests.runtime._support import load_example

RULE = get("BG305")
DROPPED = "    asyncio.create_task(refresh_cache(key))"
KEEPS_REFERENCE = RULE.bad.replace("app = FastAPI()", "app = FastAPI()\nrunning: set = set()").replace(
    DROPPED,
    "    task = asyncio.create_task(refresh_cache(key))\n"
    "    running.add(task)\n"
    "    task.add_done_callback(running.discard)",
)


async def _fails(key: str) -> None:
    await asyncio.sleep(0)
    raise ConnectionError(f"cache {key} not refreshed")


def _waits_for_an_orphan_future(events: List[str]):  # type: ignore[no-untyped-def]
    async def refresh_cache(key: str) -> None:
        try:
            await asyncio.get_running_loop().create_future()  # e.g. a callback API that dropped it
        finally:
            events.append(f"refresh of {key} ended")

    return refresh_cache


async def _request_then_collect(app: Any) -> Tuple[Exchange, List[Tuple[str, str]]]:
    """One request; let spawned tasks run; collect garbage; return what the loop reported."""
    reports: List[Dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reports.append(context))
    exchange = await call_app(app, "POST", "/items/k1")
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    return exchange, [(r["message"], type(r.get("exception")).__name__) for r in reports]


def _load(source: str, tmp_path: Path, refresh_cache: Any) -> types.ModuleType:
    example = load_example(source, tmp_path)
    example.refresh_cache = refresh_cache
    return example


def test_bad_example_error_is_lost_to_the_server(tmp_path: Path) -> None:
    assert DROPPED in RULE.bad
    example = _load(RULE.bad, tmp_path, _fails)
    exchange, reports = asyncio.run(_request_then_collect(example.app))
    assert (exchange.status, exchange.error) == (200, None)  # the server never hears of the failure ...
    # ... it only shows up when the dead task is destroyed, via the loop's exception handler
    assert reports == [("Task exception was never retrieved", "ConnectionError")]


def test_good_example_error_reaches_the_server(tmp_path: Path) -> None:
    example = _load(RULE.good, tmp_path, _fails)
    exchange, reports = asyncio.run(_request_then_collect(example.app))
    assert exchange.status == 200  # the response still went out first ...
    assert isinstance(exchange.error, ConnectionError)  # ... and the error reached the server (logged)
    assert reports == []


def test_bad_example_pending_task_is_collected(tmp_path: Path) -> None:
    events: List[str] = []
    example = _load(RULE.bad, tmp_path, _waits_for_an_orphan_future(events))
    exchange, reports = asyncio.run(_request_then_collect(example.app))
    assert (exchange.status, exchange.error) == (200, None)
    assert reports == [("Task was destroyed but it is pending!", "NoneType")]
    assert events == ["refresh of k1 ended"]  # closed by the garbage collector, mid-flight



def test_bad_example_task_in_asyncio_sleep_is_held_by_the_loop(tmp_path: Path) -> None:
    """Where the premise "collected mid-flight" does not hold: the loop's timer references the task."""
    events: List[str] = []

    async def refresh_cache(key: str) -> None:
        try:
            await asyncio.sleep(30)  # never reached: asyncio.run cancels it at the end
        finally:
            events.append(f"refresh of {key} ended")

    example = _load(RULE.bad, tmp_path, refresh_cache)

    async def scenario() -> Tuple[List[Tuple[str, str]], List[str]]:
        _, reports = await _request_then_collect(example.app)
        return reports, list(events)

    reports, events_before_shutdown = asyncio.run(scenario())
    assert reports == [] and events_before_shutdown == []  # survived gc.collect()
    assert events == ["refresh of k1 ended"]  # cancelled by asyncio.run at shutdown

def test_keeping_a_reference_keeps_the_task(tmp_path: Path) -> None:
    events: List[str] = []
    example = _load(KEEPS_REFERENCE, tmp_path, _waits_for_an_orphan_future(events))

    async def scenario() -> Tuple[List[Tuple[str, str]], int, List[str]]:
        _, reports = await _request_then_collect(example.app)
        return reports, len(example.running), list(events)

    reports, still_running, events_before_shutdown = asyncio.run(scenario())
    assert reports == []  # not destroyed by gc.collect()
    assert still_running == 1 and events_before_shutdown == []
    assert events == ["refresh of k1 ended"]  # ended by asyncio.run's cancel at shutdown
