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
