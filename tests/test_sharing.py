"""Work shared with a forked process: the same results as doing all of it here, each piece once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest

from bglint import planner, sharing
from bglint.cli import main

from ._cli import runner

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="work is shared by fork: Linux only")

REPO = Path(__file__).resolve().parents[1]


def _slow_square(i: int) -> Tuple[int, int]:
    time.sleep(0.005)  # long enough for the forked process to take some
    return i * i, os.getpid()


def test_each_item_is_done_once_and_the_results_come_in_order() -> None:
    items = list(range(60))
    opened = sorted(os.listdir("/proc/self/fd"))
    results, finished = sharing.share(items, _slow_square, lambda: "done")
    assert [r for r, _ in results] == [i * i for i in items]
    by = {pid for _, pid in results}
    assert os.getpid() in by and len(by) == 2  # both processes did some
    assert finished == "done"
    assert sorted(os.listdir("/proc/self/fd")) == opened  # its pipe and shared memory closed


def test_an_item_that_fails_there_is_done_here() -> None:
    here = os.getpid()

    def fails_there(i: int) -> Tuple[int, int]:
        if os.getpid() != here:
            raise ValueError("only here")
        return _slow_square(i)

    results, finished = sharing.share(list(range(30)), fails_there, lambda: "done")
    assert results == [(i * i, here) for i in range(30)]
    assert finished == "done"


def test_an_item_that_fails_here_fails_the_call() -> None:
    def fails(i: int) -> int:
        if i == 5:
            raise ValueError("item 5")
        return i

    with pytest.raises(ValueError, match="item 5"):
        sharing.share(list(range(10)), fails, lambda: None)


def _dies_after_two(items: Any, work: Any, finish: Any, writer: Any, claims: sharing.Claims) -> None:
    taken = 0
    for i, item in enumerate(items):
        if taken < 2 and claims.take(i, sharing.THERE):
            writer.send((i, True, work(item)))
            taken += 1
        elif taken == 2 and claims.take(i, sharing.THERE):
            os._exit(1)  # dies holding an item it took


def test_what_a_process_that_dies_took_is_done_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sharing, "_work_there", _dies_after_two)
    results, finished = sharing.share(list(range(40)), _slow_square, lambda: "done")
    assert [r for r, _ in results] == [i * i for i in range(40)]
    assert finished is None  # it did not finish


def _entry(folder: Path) -> dict:
    (found,) = list(folder.rglob(".bglint_cache/*/*.json"))
    data = json.loads(found.read_text(encoding="utf-8").replace(str(folder.parent), "<folder>"))
    data.pop("written_ns")
    for record in data["files"].values():
        record[1] = None  # the file's time: these are other files with the same content
    return data


APP = """\
from fastapi import BackgroundTasks, FastAPI

from pkg.b_tasks import work

app = FastAPI()


@app.post("/a")
async def view(tasks: BackgroundTasks):
    tasks.add_task(work)
"""
TASKS = """\
from helpers import fetch


async def work():
    fetch()
"""
HELPERS = """\
import requests


def fetch():
    return requests.get("https://example.com")
"""


def _project(folder: Path) -> Path:
    """A project in ``folder``/project whose task module calls a helper from ``folder``/lib."""
    project = folder / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.bglint]\nselect = ['ALL']\nsrc = ['../lib']\n", encoding="utf-8")
    for name, text in (("__init__", ""), ("a_app", APP), ("b_tasks", TASKS)):
        (project / "pkg" / f"{name}.py").write_text(text, encoding="utf-8")
    (folder / "lib").mkdir()
    (folder / "lib" / "helpers.py").write_text(HELPERS, encoding="utf-8")
    return project


def _held_up_here(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None] = lambda: None) -> List[int]:
    """Every project is worth sharing; this process is held up on the first file until the forked
    one has linted the task module, then does ``then``. Returns the sizes shared."""
    import multiprocessing

    from bglint.engine import Engine

    monkeypatch.setattr(planner, "MIN_TEXT", 0)
    shared: List[int] = []
    share = sharing.share
    monkeypatch.setattr(sharing, "share", lambda items, *a: shared.append(len(items)) or share(items, *a))
    outcome = Engine._outcome
    here = os.getpid()
    linted_there = multiprocessing.get_context("fork").Event()

    def held_up(self: Engine, run: Any, path: Path, *args: Any) -> Any:
        if os.getpid() == here and path.name == "a_app.py" and shared:
            assert linted_there.wait(60), "the forked process did not lint the task module"
            then()
        found = outcome(self, run, path, *args)
        if os.getpid() != here and path.name == "b_tasks.py":
            linted_there.set()
        return found

    monkeypatch.setattr(Engine, "_outcome", held_up)
    return shared


def test_a_run_with_an_idle_core_lints_in_two_processes_with_the_same_report_and_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One project, two cores: the files are linted in two processes; what is printed and what
    the cache keeps (findings, the files each finding depended on, the files consulted and read)
    are those of ``--jobs 1``. The forked process lints the task module, and only it parses and
    reads the helper module it calls, from a folder outside the project (``src``)."""
    shared = _held_up_here(monkeypatch)
    runs = {}
    for jobs in ("1", "2"):
        project = _project(tmp_path / jobs)
        monkeypatch.chdir(project)
        result = runner().invoke(main, ["check", "--output-format", "concise", "--jobs", jobs, "pkg"])
        runs[jobs] = (result.exit_code, result.stdout, _entry(project))
    assert shared == [2]  # --jobs 2 only: the app and the task module
    assert runs["1"] == runs["2"]
    assert runs["1"][0] == 1 and "pkg/b_tasks.py:5:5: BG201" in runs["1"][1]  # found through the helper
    assert any(name.endswith("lib/helpers.py") for name in runs["1"][2]["files"])


def test_a_file_the_other_process_read_is_kept_as_it_read_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper changes after the forked process read it, before the run ends: the cache
    entry keeps the helper as read (so the next run analyses again), not as it is at the end
    (the next run would replay a finding the helper no longer causes)."""
    project = _project(tmp_path)
    helper = tmp_path / "lib" / "helpers.py"
    _held_up_here(monkeypatch, then=lambda: helper.write_text(HELPERS.replace('requests.get("https://example.com")', "1"), encoding="utf-8"))
    monkeypatch.chdir(project)
    first = runner().invoke(main, ["check", "--output-format", "concise", "--jobs", "2", "pkg"])
    assert first.exit_code == 1 and "BG201" in first.stdout  # as read
    again = runner().invoke(main, ["check", "--output-format", "concise", "--jobs", "1", "pkg"])
    assert again.exit_code == 0, again.stdout


def test_without_a_process_all_of_it_is_done_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError("Resource temporarily unavailable")

    opened = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", no_fork)
    results, finished = sharing.share(list(range(5)), _slow_square, lambda: "done")
    assert results == [(i * i, os.getpid()) for i in range(5)] and finished is None
    assert len(os.listdir("/proc/self/fd")) <= opened  # the pipe made for it is closed


def test_forking_from_the_analysis_thread_warns_of_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lint is shared from the thread the analysis runs on, the main thread waiting for it:
    Python 3.12 and later warn of forking a process with threads, which does not apply here and
    must not reach a user who shows deprecation warnings (``-W always::DeprecationWarning``)."""
    project = _project(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "from bglint import planner\nplanner.MIN_TEXT = 0\nfrom bglint.entry import run\nrun()\n"
    args = [sys.executable, "-W", "always::DeprecationWarning", "-c", code, "check", "--no-cache", "--output-format", "concise", "--jobs", "2", "pkg"]
    result = subprocess.run(args, cwd=str(project), capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "pkg/b_tasks.py:5:5: BG201" in result.stdout and result.stderr == ""
