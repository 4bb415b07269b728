"""BG202's unsafe fix (drop `async`) is withheld when any file of the project could await the task,
including files that hold no hand-off and so are only read, never parsed (`Project.texts`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bglint.cli import main

TASKS = """\
import requests


async def ping(url: str) -> None:
    requests.post(url)
"""

MAIN = """\
from fastapi import BackgroundTasks, FastAPI

from app.tasks import ping

app = FastAPI()


@app.post("/p")
async def p(url: str, tasks: BackgroundTasks):
    tasks.add_task(ping, url)
"""

AWAITS = """\
from app.tasks import ping


async def twice(url: str) -> None:
    await ping(url)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.bglint]\nselect = ["BG202"]\n', encoding="utf-8")
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("", encoding="utf-8")
    (app / "tasks.py").write_text(TASKS, encoding="utf-8")
    (app / "main.py").write_text(MAIN, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fix(root: Path) -> str:
    result = CliRunner().invoke(main, ["check", "--fix", "--unsafe-fixes", "--no-cache", str(root)])
    assert result.exit_code in (0, 1), result.output
    return (root / "app" / "tasks.py").read_text(encoding="utf-8")


def test_async_is_dropped_when_only_handed_over(project: Path) -> None:
    assert "\ndef ping(" in _fix(project)


def test_async_is_kept_when_another_file_awaits_it(project: Path) -> None:
    # other.py has no hand-off, so it is never parsed; its text still counts
    (project / "app" / "other.py").write_text(AWAITS, encoding="utf-8")
    assert "\nasync def ping(" in _fix(project)
