"""BG201 for a coroutine started with `asyncio.create_task` from an endpoint (RULES.md, corrections):
it runs on the event loop like an `async def` background task, so its blocking call stalls the loop.

The rule's examples with `tasks.add_task(sync_inventory, sku)` turned into a kept `create_task` and the
5 s sleep shortened; a heartbeat on the same loop measures the longest stall while the task runs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, List

import pytest

from bglint.rules import get
from tests.runtime._asgi_call import call_app
from tests.runtime._support import load_example

BLOCK = 0.6


def _as_create_task(source: str) -> str:
    hand_off = "    tasks.add_task(sync_inventory, sku)"
    assert hand_off in source
    source = source.replace(hand_off, "    app.state.pending = asyncio.create_task(sync_inventory(sku))")
    source = source.replace("time.sleep(5)", f"time.sleep({BLOCK})").replace("asyncio.sleep(5)", f"asyncio.sleep({BLOCK})")
    return "import asyncio\n" + source


async def _longest_stall(app: Any) -> float:
    gaps: List[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    exchange = await call_app(app, "POST", "/inventory/sku-1")
    assert (exchange.status, exchange.error) == (200, None)
    await app.state.pending  # the endpoint has returned; the task runs now
    done.set()
    await beat
    return max(gaps)


@pytest.mark.parametrize("which, blocks", [("bad", True), ("good", False)])
def test_create_task_blocking_call_stalls_the_loop(which: str, blocks: bool, tmp_path: Path) -> None:
    example = load_example(_as_create_task(getattr(get("BG201"), which)), tmp_path)
    example.print = lambda *args: None  # the examples print when done
    stall = asyncio.run(_longest_stall(example.app))
    if blocks:
        assert stall >= BLOCK * 0.9, f"longest loop stall {stall:.3f}s"  # nothing else ran during the sleep
    else:
        assert stall < BLOCK * 0.75, f"longest loop stall {stall:.3f}s"
