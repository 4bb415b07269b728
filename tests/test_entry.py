"""The ``bglint`` command's short way: ``bglint check PATH...`` (what pre-commit runs) goes to
bglint.checking without click, and must come out exactly as the same command line through click."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from bglint import checking, entry
from bglint.cli import check as check_command
from bglint.cli import main

from ._cli import runner

REPO = Path(__file__).resolve().parents[1]

APP = """\
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send(to: str) -> None:
    print(to)


@app.post("/a")
async def view(to: str, tasks: BackgroundTasks):
    tasks.add_task(send(to))
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.bglint]\nselect = ['ALL']\n", encoding="utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "app.py").write_text(APP, encoding="utf-8")
    (tmp_path / "pkg" / "clean.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "pkg" / "broken.py").write_text("def f(:\n", encoding="utf-8")
    return tmp_path


def _bglint(project: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "bglint", *args], cwd=str(project), capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    "paths",
    [["pkg/app.py"], ["pkg/clean.py"], ["pkg"], ["pkg/broken.py", "pkg/app.py"], ["pkg/broken.py"], ["missing.py", "pkg/clean.py"], ["pkg/app.py", "pkg/app.py"]],
)
def test_the_short_way_prints_and_exits_as_click_does(project: Path, paths: List[str]) -> None:
    # the same options spelled out send the command line through click
    through_click = _bglint(project, "check", "--output-format", "full", "--jobs", "0", *paths)
    assert entry._check_paths(["check", *paths]) is not None  # (this command line is the short way's)
    short = _bglint(project, "check", *paths)
    assert (short.returncode, short.stdout, short.stderr) == (through_click.returncode, through_click.stdout, through_click.stderr)
    assert short.stdout or short.stderr or short.returncode == 0  # each case says something, or is clean


def test_a_bad_config_fails_the_same_way(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.bglint]\nselekt = ['ALL']\n", encoding="utf-8")
    short = _bglint(project, "check", "pkg/app.py")
    through_click = _bglint(project, "check", "--exit-zero", "pkg/app.py")  # fails before the option matters
    assert short.returncode == through_click.returncode == 2
    assert short.stderr == through_click.stderr and short.stderr.startswith("bglint: error: ")


def test_the_short_way_has_the_command_line_defaults() -> None:
    """What click passes to ``bglint check`` given no option is what bglint.checking.check takes
    by default: the short way calls it with the paths alone."""
    given = check_command.make_context("check", []).params
    defaults = {name: p.default for name, p in inspect.signature(checking.check).parameters.items()}
    assert given == defaults


@pytest.mark.parametrize(
    "args",
    [[], ["check"], ["check", "--fix", "a.py"], ["check", "a.py", "--no-cache"], ["check", "-"], ["check", "--", "a.py"], ["check", ""], ["rules"], ["--version"], ["check", "-j1", "a.py"]],
)
def test_any_other_command_line_goes_through_click(args: List[str]) -> None:
    assert entry._check_paths(args) is None


def test_on_windows_click_expands_the_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "name", "nt")
    assert entry._check_paths(["check", "*.py"]) is None


def test_a_replayed_run_imports_no_click(project: Path) -> None:
    code = (
        "import sys\n"
        "from bglint import entry\n"
        "status = entry._check_paths(['check', 'pkg/clean.py', 'pkg/app.py'])\n"
        "print(status, 'click' in sys.modules, 'libcst' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    first = _bglint(project, "check", "pkg/clean.py", "pkg/app.py")  # fills the cache
    assert first.returncode == 1 and "BG301" in first.stdout
    again = subprocess.run([sys.executable, "-c", code], cwd=str(project), capture_output=True, text=True, env=env, timeout=120)
    assert again.stdout.splitlines()[-1] == "1 False False", again.stderr
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]  # the finding, as the first run printed it


def test_an_interrupt_ends_as_click_ends_it(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(checking, "check", interrupted)
    monkeypatch.chdir(project)
    assert entry._check_paths(["check", "pkg/app.py"]) == 1
    short = capsys.readouterr().err
    through_click = runner().invoke(main, ["check", "--no-cache", "pkg/app.py"])
    assert through_click.exit_code == 1
    assert short == "\nAborted!\n" and through_click.stderr == short
