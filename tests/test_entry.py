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


def _through_click(project: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    """The same command line, parsed by click (as every one but the short way's is)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import sys\nfrom bglint.cli import main\nsys.argv[0] = 'bglint'\nmain()\n"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=str(project), capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    "paths",
    [["pkg/app.py"], ["pkg/clean.py"], ["pkg"], ["pkg/broken.py", "pkg/app.py"], ["pkg/broken.py"], ["missing.py", "pkg/clean.py"], ["pkg/app.py", "pkg/app.py"]],
)
def test_the_short_way_prints_and_exits_as_click_does(project: Path, paths: List[str]) -> None:
    through_click = _through_click(project, "check", *paths)
    assert entry._check_options(paths) == (paths, {})  # (this command line is the short way's)
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
    [
        [], ["rules"], ["--version"], ["check", "-"], ["check", "--", "a.py"], ["check", ""], ["check", "-j1", "a.py"], ["check", "-j=1", "a.py"],
        ["check", "--help"], ["check", "-h"], ["check", "--output-format", "nope", "a.py"], ["check", "--select"], ["check", "--select", "--fix", "a.py"],
        ["check", "--no-cache=1", "a.py"], ["check", "--jobs", "-1", "a.py"], ["check", "--jobs", "x", "a.py"], ["check", "--jobs", "\u0662", "a.py"],
        ["check", "--config", "c.toml", "a.py"], ["check", "--output-file", "out", "a.py"], ["check", "--nocache", "a.py"], ["rule", "BG101"],
    ],
)
def test_any_other_command_line_goes_through_click(args: List[str]) -> None:
    assert entry._check_paths(args) is None


@pytest.mark.parametrize(
    "args",
    [
        ["--select", "ALL", "--no-cache", "--exit-zero", "--output-format", "concise", "pkg"],
        ["pkg", "--select=BG1,BG3", "--ignore", "BG302", "--extend-select", "BG5", "--statistics"],
        ["--output-format=json", "-j", "1", "--no-cache", "pkg/app.py", "pkg/broken.py"],
        ["--diff", "--unsafe-fixes", "--show-fixes", "--jobs=2", "pkg"],
        ["--select", "BG999", "pkg"],  # a bad code: the same failure
        ["--select", "ALL", "--select", "BG1", "--output-format", "sarif", "--output-format", "github", "pkg"],  # the last one wins
        ["--no-cache"],  # the current folder
    ],
)
def test_the_short_way_takes_the_options_click_would_and_ends_the_same(project: Path, args: List[str]) -> None:
    assert entry._check_options(args) is not None
    through_click = _through_click(project, "check", *args)
    short = _bglint(project, "check", *args)
    assert (short.returncode, short.stdout, short.stderr) == (through_click.returncode, through_click.stdout, through_click.stderr)
    assert short.stdout or short.stderr


def test_the_options_taken_are_what_click_passes() -> None:
    args = ["a.py", "--select", "ALL", "--ignore=BG1", "--ignore", "BG2", "--fix", "-j", "3", "--output-format", "json", "b.py", "--no-cache"]
    paths, options = entry._check_options(args)  # type: ignore[misc]
    given = check_command.make_context("check", list(args)).params
    defaults = {name: p.default for name, p in inspect.signature(checking.check).parameters.items()}
    assert {**defaults, **options, "paths": tuple(paths)} == given


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


def test_options_taken_the_short_way_import_no_click(project: Path) -> None:
    code = (
        "import sys\n"
        "from bglint import entry\n"
        "status = entry._check_paths(['check', '--select', 'ALL', '--no-cache', '--output-format', 'concise', 'pkg/app.py'])\n"
        "print(status, 'click' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], cwd=str(project), capture_output=True, text=True, env=env, timeout=120)
    assert "BG301" in done.stdout and done.stdout.splitlines()[-1] == "1 False", done.stderr
