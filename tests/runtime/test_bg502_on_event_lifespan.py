"""BG502 on the installed FastAPI/Starlette/uvicorn, with the rule's examples (their `app.jobs` is a
small package in tmp_path whose `pending_jobs` queue records when it is drained).

Premises, as checked here:
- TRUE: `app.on_event` emits a DeprecationWarning attributed to the app's module. Python's default
  filters hide DeprecationWarnings outside `__main__`, so an app imported by uvicorn starts without a
  word about it; only tests or `-W` show it.
- TRUE (the rule's "why"): `app.add_event_handler` is gone from the application (Starlette 1.x):
  AttributeError.
- TRUE, and worse than the spec says: once `FastAPI(lifespan=...)` is given, `on_event` handlers are
  silently never called.
- FALSE: "pending tasks are dropped on SIGTERM" (RULES.md). On a graceful stop (what uvicorn's SIGTERM
  handler does) uvicorn waits for running request cycles, background tasks included, and only then
  runs the shutdown code; the same for `on_event` and lifespan.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path
from typing import Iterator, List, Tuple

import httpx
import pytest
import starlette
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bglint.rules import get
from tests.runtime._server import serve_in_thread
from tests.runtime._support import load_example

RULE = get("BG502")
STARLETTE_1 = int(starlette.__version__.split(".")[0]) >= 1

# the examples' app.jobs creates an asyncio.Queue at import: before Python 3.10 that binds the
# current event loop, which an earlier asyncio.run() in the same process has unset
pytestmark = pytest.mark.skipif(sys.version_info < (3, 10), reason="asyncio.Queue() outside a loop needs Python 3.10+")

JOBS = """
import asyncio

events = []


class _Jobs(asyncio.Queue):
    async def join(self):
        events.append("drained")
        await super().join()


pending_jobs = _Jobs()
"""

# Appended to an example: an endpoint whose background task takes a while.
SLOW_TASK = """

import time

from fastapi import BackgroundTasks

from app.jobs import events


def write_audit(entry: str) -> None:
    time.sleep(0.3)
    events.append(f"audit {entry}")


@app.post("/audit")
def audit(entry: str, tasks: BackgroundTasks):
    tasks.add_task(write_audit, entry)
    return {"ok": True}
"""

# A half-done migration: the good example's lifespan, plus an on_event handler left in place.
MIXED = RULE.good + """

@app.on_event("shutdown")
async def also_drain() -> None:
    events.append("on_event handler")


from app.jobs import events
"""


@pytest.fixture
def jobs_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``app/jobs.py`` importable for this test only."""
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("", encoding="utf-8")
    (root / "app" / "jobs.py").write_text(textwrap.dedent(JOBS), encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    for name in ("app", "app.jobs"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield root
    for name in ("app", "app.jobs"):
        sys.modules.pop(name, None)


def _load(source: str, tmp_path: Path) -> Tuple[types.ModuleType, List[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        example = load_example(source, tmp_path)
    return example, [w for w in caught if "on_event is deprecated" in str(w.message)]


def _events() -> List[str]:
    return sys.modules["app.jobs"].events


def test_bad_example_is_deprecated_and_still_runs(jobs_package: Path, tmp_path: Path) -> None:
    example, deprecations = _load(RULE.bad, tmp_path)
    assert deprecations and all(w.category is DeprecationWarning for w in deprecations)
    assert any(Path(w.filename).name == f"{example.__name__}.py" for w in deprecations)  # points at the app
    with TestClient(example.app):
        assert _events() == []
    assert _events() == ["drained"]  # still works, for now


def test_good_example_drains_in_the_lifespan(jobs_package: Path, tmp_path: Path) -> None:
    example, deprecations = _load(RULE.good, tmp_path)
    assert deprecations == []
    with TestClient(example.app):
        assert _events() == []
    assert _events() == ["drained"]


@pytest.mark.skipif(not STARLETTE_1, reason="removed in Starlette 1.0 (Python 3.9 gets an older one)")
def test_add_event_handler_is_gone_from_the_app() -> None:
    with pytest.raises(AttributeError, match="add_event_handler"):
        FastAPI().add_event_handler("shutdown", lambda: None)


def test_on_event_next_to_a_lifespan_is_silently_ignored(jobs_package: Path, tmp_path: Path) -> None:
    example, deprecations = _load(MIXED, tmp_path)
    assert deprecations
    with TestClient(example.app):
        pass
    assert _events() == ["drained"]  # the lifespan's; "on_event handler" never ran


def test_warning_is_silent_when_the_app_is_imported(jobs_package: Path) -> None:
    """Under the interpreter's default warning filters (an app imported by uvicorn, not __main__)."""
    (jobs_package / "drain_app.py").write_text(textwrap.dedent(RULE.bad), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "PYTHONDEVMODE")}
    result = subprocess.run(
        [sys.executable, "-c", "import drain_app; print(drain_app.app.router.on_shutdown)"],
        cwd=jobs_package, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "drain" in result.stdout  # the handler was registered ...
    assert "on_event is deprecated" not in result.stderr  # ... without a word
    # (test_bad_example_is_deprecated_and_still_runs shows the warning is emitted when not filtered)


@pytest.mark.parametrize("which", ["bad", "good"])
def test_graceful_stop_waits_for_running_tasks_then_drains(which: str, jobs_package: Path, tmp_path: Path) -> None:
    """Premise FALSE: a graceful stop (uvicorn's SIGTERM handler sets should_exit) drops no task."""
    example, _ = _load(getattr(RULE, which) + SLOW_TASK, tmp_path)
    with serve_in_thread(example.app, lifespan="on") as live:
        assert httpx.post(f"{live.url}/audit", params={"entry": "login"}, timeout=10.0).status_code == 200
        live.server.should_exit = True  # uvicorn.Server.handle_exit(SIGTERM) sets exactly this
        live.thread.join(timeout=10.0)
        assert not live.thread.is_alive()
    assert _events() == ["audit login", "drained"]  # the task finished, then the shutdown code ran
