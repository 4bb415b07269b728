"""Runs over several projects: each project is analysed on its own, in one process or several, with
the same result."""

from __future__ import annotations

from pathlib import Path

import pytest

from bglint.cli import _projects, main

from ._cli import runner

API = """\
from fastapi import BackgroundTasks, FastAPI

from {pkg}.tasks import work

app = FastAPI()


@app.post("/")
async def ep(tasks: BackgroundTasks):
    tasks.add_task(work)
"""
TASKS = "import time\n\n\nasync def work():\n    time.sleep(1)\n    await other()\n"


@pytest.fixture
def projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("one", "two", "three"):
        root = tmp_path / name
        pkg = root / f"{name}_app"
        pkg.mkdir(parents=True)
        (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
        (pkg / "__init__.py").write_text("")
        (pkg / "api.py").write_text(API.format(pkg=f"{name}_app"))
        (pkg / "tasks.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_files_are_grouped_by_project(projects: Path) -> None:
    files = sorted(projects.rglob("*.py"))
    groups = _projects(files)
    assert sorted(sorted(p.parent.parent.name for p in g) for g in groups) == [["one"] * 3, ["three"] * 3, ["two"] * 3]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_every_project_is_checked_the_same_way_in_one_process_or_several(projects: Path, jobs: str) -> None:
    result = runner().invoke(main, ["check", "--no-cache", "--output-format", "concise", "-j", jobs, "one", "two", "three"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines == sorted(lines)
    assert [line.split(":")[0] for line in lines if "BG201" in line] == [f"{n}/{n}_app/tasks.py" for n in ("one", "three", "two")]
    single = runner().invoke(main, ["check", "--no-cache", "--output-format", "concise", "-j", "1", "one", "two", "three"])
    assert single.stdout == result.stdout


def test_a_warm_run_replays_every_project_without_starting_processes(projects: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bglint.cli as cli

    args = ["check", "--output-format", "concise", "-j", "2", "one", "two", "three"]
    first = runner().invoke(main, args)
    assert first.exit_code == 1, first.output

    def no_pool(*a: object) -> None:
        raise AssertionError("a process pool was started for projects the cache answers")

    monkeypatch.setattr(cli, "_in_processes", no_pool)
    again = runner().invoke(main, args)
    assert again.exit_code == 1, again.output
    assert again.stdout == first.stdout
    # one project changed: only it is analysed (in this process: a pool for one project is not worth it)
    tasks = projects / "two" / "two_app" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n\nasync def more():\n    time.sleep(2)\n")
    changed = runner().invoke(main, args)
    assert changed.exit_code == 1, changed.output
    assert changed.stdout == first.stdout


def test_errors_keep_the_project_order_when_some_projects_are_replayed(projects: Path) -> None:
    for name in ("one", "two", "three"):
        (projects / name / f"{name}_app" / "broken.py").write_text("def f(:\n    create_task(x)\n")
    args = ["check", "--output-format", "concise", "-j", "2", "one", "two", "three"]
    first = runner().invoke(main, args)
    errors = [line.split(":")[0] for line in first.stderr.splitlines() if "error" in line]
    assert errors == [f"{n}/{n}_app/broken.py" for n in ("one", "two", "three")]
    # "one" changes: it is analysed again, the others replayed; the order stays
    tasks = projects / "one" / "one_app" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n# touched\n")
    again = runner().invoke(main, args)
    assert again.stderr == first.stderr and again.stdout == first.stdout
