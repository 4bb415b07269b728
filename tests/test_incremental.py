"""Incremental runs: after a change, the cache re-analyses only what the change can affect, and
reports exactly what a run from scratch reports (bglint.incremental)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from bglint import cache as cache_mod
from bglint.cli import main

from ._cli import runner

FILES: Dict[str, str] = {
    "app/__init__.py": "from app.tasks import send_report\n",
    "app/api.py": """\
import asyncio

from fastapi import BackgroundTasks, Depends, FastAPI

from app import send_report
from app.db import get_db
from app.jobs import rebuild

app = FastAPI()


@app.post("/report")
async def report(tasks: BackgroundTasks, db=Depends(get_db)):
    tasks.add_task(send_report, "x")
    tasks.add_task(rebuild, db)
    return {}


@app.post("/spawn")
async def spawn():
    asyncio.create_task(rebuild(None))
    return {}
""",
    "app/tasks.py": """\
from app.helpers import fetch


async def send_report(name):
    fetch(name)
""",
    "app/helpers.py": """\
import requests


def fetch(name):
    return requests.get(name, timeout=5)
""",
    "app/jobs.py": """\
import time

from app.helpers import fetch


async def rebuild(db):
    time.sleep(1)
    fetch(db)  # the helper of tasks.py too: its analysis is shared


async def cleanup():  # no task (yet)
    time.sleep(1)
""",
    "app/db.py": """\
from sqlalchemy.orm import Session


def get_db():
    db = Session()
    try:
        yield db
    finally:
        db.close()
""",
    "app/util.py": "def helper():\n    return 1\n",
}

# edits that change what is found: (file, old, new)
EDITS: List[Tuple[str, str, str]] = [
    ("app/helpers.py", "requests.get(name, timeout=5)", "print(name)"),
    ("app/tasks.py", "async def send_report", "def send_report"),
    ("app/tasks.py", "    fetch(name)\n", "    fetch(name)\n    rebuild(None)\n"),
    ("app/jobs.py", "time.sleep(1)", "print(1)"),
    ("app/jobs.py", "async def rebuild(db):", "async def rebuild(db):\n    send_report(db)"),
    ("app/api.py", '    tasks.add_task(send_report, "x")\n', ""),
    ("app/api.py", "    tasks.add_task(rebuild, db)\n", "    tasks.add_task(rebuild, db)\n    tasks.add_task(helper)\n"),
    ("app/api.py", "from app.jobs import rebuild", "from app.jobs import rebuild\nfrom app.util import helper"),
    ("app/api.py", "asyncio.create_task(rebuild(None))", "keep = asyncio.create_task(rebuild(None))"),
    ("app/api.py", "    tasks.add_task(rebuild, db)\n", ""),
    ("app/api.py", "    asyncio.create_task(rebuild(None))\n", "    pass\n"),
    ("app/util.py", "def helper():\n    return 1\n", "from fastapi import BackgroundTasks\nfrom app.jobs import cleanup\n\n\nasync def helper(t: BackgroundTasks):\n    t.add_task(cleanup)\n"),
    ("app/__init__.py", "from app.tasks import send_report", "from app.jobs import rebuild as send_report"),
    ("app/db.py", "        yield db\n", "        return db\n"),
    ("app/util.py", "    return 1\n", "    return 1\n\n\nasync def later():\n    await rebuild(None)\n"),
    ("app/util.py", "def helper():\n    return 1\n", "import time\n\n\nasync def helper():\n    time.sleep(2)\n"),
    ("app/util.py", "def helper(", "def helper(:"),  # a syntax error
    ("app/helpers.py", "import requests\n", "from app.util import helper as requests\n"),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.bglint]\n")
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check(*args: str, select: str = "ALL", paths: Tuple[str, ...] = (".",)) -> Tuple[int, str]:
    result = runner().invoke(main, ["check", "--select", select, "--output-format", "json", *args, *paths])
    # 2: only files that cannot be analysed (an edit can leave a syntax error); never bglint's fault
    assert result.exit_code in (0, 1, 2) and "internal error" not in result.stderr, result.output + str(result.exception)
    return result.exit_code, result.stdout + result.stderr


def _write(path: Path, text: str) -> None:
    """Write ``text`` with a later time than any entry written before (else the cache compares by content)."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


@pytest.fixture
def linted(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The files each run lints (their names, in order)."""
    import bglint.engine

    seen: List[str] = []
    lint = bglint.engine._Run.lint

    def spy(self: bglint.engine._Run, path: Path):  # type: ignore[no-untyped-def]
        seen.append(Path(path).resolve().name)
        return lint(self, path)

    monkeypatch.setattr(bglint.engine._Run, "lint", spy)
    return seen


SUBSETS: List[Tuple[str, ...]] = [(".",), ("app/api.py",), ("app/tasks.py", "app/jobs.py"), ("app/util.py",), ("app",)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("select", ["ALL", "BG1,BG201,BG3,BG4,BG5"])  # BG202's fix reads every file
def test_after_each_edit_the_cached_run_reports_what_a_fresh_run_does(project: Path, seed: int, select: str) -> None:
    """Each run checks the whole project or some of its files (one entry serves them all)."""
    rng = random.Random(seed)
    _check(select=select)
    texts = {name: (project / name).read_text() for name in FILES}
    for _ in range(8):
        name, old, new = rng.choice(EDITS)
        if old not in texts[name]:
            name, old, new = name, new, old  # undo it instead
            if old not in texts[name]:
                continue
        texts[name] = texts[name].replace(old, new, 1)
        _write(project / name, texts[name])
        paths = rng.choice(SUBSETS)
        assert _check(select=select, paths=paths) == _check("--no-cache", select=select, paths=paths), (name, old, new, paths)


def test_a_change_in_a_helper_lints_again_only_the_tasks_that_call_it(project: Path, linted: List[str]) -> None:
    first = _check()
    assert "BG201" in first[1]
    assert sorted(linted) == ["api.py", "jobs.py", "tasks.py"]
    linted.clear()
    _write(project / "app/helpers.py", FILES["app/helpers.py"].replace("requests.get(name, timeout=5)", "print(name)"))
    cached = _check()
    assert sorted(linted) == ["jobs.py", "tasks.py"]
    assert cached == _check("--no-cache")
    assert "fetch()" not in cached[1]


def test_a_new_hand_off_into_an_unchanged_file_lints_that_file_again(project: Path, linted: List[str]) -> None:
    """BG202 is off: its fix reads every file (then any change lints the file again)."""
    assert "cleanup" not in _check(select="BG201")[1]
    linted.clear()
    _write(
        project / "app/util.py",
        "from fastapi import BackgroundTasks\n\nfrom app.jobs import cleanup\n\n\nasync def ep(tasks: BackgroundTasks):\n    tasks.add_task(cleanup)\n",
    )
    code, out = _check(select="BG201")
    assert sorted(linted) == ["jobs.py", "util.py"]  # jobs.py holds a new task; api.py, tasks.py untouched
    assert [f["message"].split(";")[0] for f in json.loads(out) if "cleanup" in f["message"]] == [
        "`time.sleep()` blocks the event loop in async task `cleanup`",
    ]
    assert (code, out) == _check("--no-cache", select="BG201")


def test_a_change_nothing_read_needs_no_analysis(project: Path, linted: List[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """util.py is not a module any analysis read; with BG202 off no rule reads every file either."""
    first = _check(select="BG1,BG201,BG3")
    linted.clear()
    _write(project / "app/util.py", "def helper():\n    return 2\n")
    assert _check(select="BG1,BG201,BG3") == first
    assert linted == []


def test_a_fix_that_depends_on_every_file_is_reconsidered_when_any_file_changes(project: Path) -> None:
    """BG202's fix (make the task a `def`) is offered only while nothing but its hand-offs
    mentions the task: a new `await send_report(...)` elsewhere withdraws it, also from the cache."""

    def fix_of_bg202() -> object:
        found = [f for f in json.loads(_check()[1]) if f["code"] == "BG202" and f["path"] == "app/tasks.py"]
        assert len(found) == 1
        return found[0]["fix"]

    assert fix_of_bg202() is not None
    _write(project / "app/util.py", "from app import send_report\n\n\nasync def later():\n    await send_report(None)\n")
    assert fix_of_bg202() is None
    assert _check() == _check("--no-cache")


def test_an_entry_without_dependencies_runs_in_full(project: Path) -> None:
    _check()
    entries = list((project / ".bglint_cache" / f"v{cache_mod.FORMAT}").glob("*.json"))
    assert len(entries) == 1
    for broken in ({"lint": [[0, "x"]]}, {"lint": None}, {"index": [[999, [], []]]}, {"resolved": []}):
        data = json.loads(entries[0].read_text())
        data.update(broken)
        entries[0].write_text(json.dumps(data))
        _write(project / "app/jobs.py", FILES["app/jobs.py"].replace("time.sleep(1)", "print(1)"))
        assert _check() == _check("--no-cache"), broken
        _write(project / "app/jobs.py", FILES["app/jobs.py"])
        assert _check() == _check("--no-cache"), broken
    data = json.loads(entries[0].read_text())
    del data["lint"]  # an entry from a run that did not record what it read
    entries[0].write_text(json.dumps(data))
    _write(project / "app/jobs.py", FILES["app/jobs.py"].replace("time.sleep(1)", "print(1)"))
    assert _check() == _check("--no-cache")


def _plugin_findings(root: Path, monkeypatch: pytest.MonkeyPatch) -> List[Tuple[str, int, int, str]]:
    """What the flake8 plugin reports for each file of the project, as a new flake8 process."""
    from bglint import flake8_plugin

    monkeypatch.setattr(flake8_plugin, "_STATES", {})
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines(keepends=True)
        for line, col, message, _ in flake8_plugin.Plugin(None, str(path), lines).run():  # type: ignore[arg-type]
            found.append((path.relative_to(root).as_posix(), line, col, message))
    return found


def test_the_flake8_plugin_lints_again_only_what_a_change_affects(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import bglint.incremental

    reruns: List[bool] = []
    real = bglint.incremental.rerun

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        report = real(*args, **kwargs)
        reruns.append(report is not None)
        return report

    monkeypatch.setattr(bglint.incremental, "rerun", spy)
    rng = random.Random(7)
    _plugin_findings(project, monkeypatch)
    texts = {name: (project / name).read_text() for name in FILES}
    for _ in range(8):
        name, old, new = rng.choice(EDITS)
        if old not in texts[name]:
            old, new = new, old
            if old not in texts[name]:
                continue
        texts[name] = texts[name].replace(old, new, 1)
        _write(project / name, texts[name])
        cached = _plugin_findings(project, monkeypatch)
        shutil.rmtree(project / ".bglint_cache")
        assert cached == _plugin_findings(project, monkeypatch), (name, old, new)
    assert reruns and all(reruns)


def test_a_run_over_some_files_of_the_project_answers_from_its_entry(project: Path, linted: List[str]) -> None:
    _check()
    assert sorted(linted) == ["api.py", "jobs.py", "tasks.py"]
    # pre-commit hands in the files of each commit: one entry per project serves them all
    for paths in [("app/tasks.py",), ("app/util.py", "app/jobs.py"), ("app",), (".",)]:
        linted.clear()
        cached = _check(paths=paths)
        assert linted == []
        assert cached == _check("--no-cache", paths=paths)


def test_files_first_checked_later_are_linted_then(project: Path, linted: List[str]) -> None:
    _check(paths=("app/api.py",))
    assert linted == ["api.py"]
    linted.clear()
    cached = _check()
    assert sorted(linted) == ["jobs.py", "tasks.py"]  # api.py's findings are in the entry
    assert cached == _check("--no-cache")


def test_a_change_that_affects_a_file_not_checked_drops_its_findings(project: Path, linted: List[str]) -> None:
    _check()
    _write(project / "app/helpers.py", FILES["app/helpers.py"].replace("requests.get(name, timeout=5)", "print(name)"))
    linted.clear()
    assert _check(paths=("app/api.py",)) == _check("--no-cache", paths=("app/api.py",))
    linted.clear()
    cached = _check()
    assert "tasks.py" in linted and "api.py" not in linted
    assert cached == _check("--no-cache")


def test_findings_are_named_as_this_run_names_the_files(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the working folder a file is shown as typed: the entry is the same either way."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    typed = [str(project / "app"), os.path.relpath(project / "app", elsewhere)]
    for paths in (typed[:1], typed[1:], typed[:1]):
        code, out = _check(paths=tuple(paths))
        assert (code, out) == _check("--no-cache", paths=tuple(paths))
        assert {f["path"].rsplit("/", 1)[0] for f in json.loads(out)} == {paths[0]}


def test_a_new_hand_off_into_a_file_not_checked_drops_its_findings(project: Path) -> None:
    _check(select="BG201")
    _write(
        project / "app/util.py",
        "from fastapi import BackgroundTasks\n\nfrom app.jobs import cleanup\n\n\nasync def ep(tasks: BackgroundTasks):\n    tasks.add_task(cleanup)\n",
    )
    _check(select="BG201", paths=("app/util.py",))  # jobs.py is not checked: its findings are out of date
    cached = _check(select="BG201", paths=("app/jobs.py",))
    assert "cleanup" in cached[1]
    assert cached == _check("--no-cache", select="BG201", paths=("app/jobs.py",))


def test_a_file_first_checked_that_can_have_no_finding_needs_no_parser(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pre-commit on a file without a hand-off that no hand-off reaches, after a run over others."""
    import bglint.engine

    _check(paths=("app/api.py",))
    (project / "app/bad.py").write_bytes(b"x = '\xff'\n")  # not UTF-8: an error, not a finding
    _check(paths=("app/api.py",))  # a new file: the project is analysed again

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the engine ran")

    with monkeypatch.context() as m:
        m.setattr(bglint.engine.Engine, "check", refuse)
        util = _check(paths=("app/util.py",))
        bad = _check(paths=("app/bad.py",))
    assert util == _check("--no-cache", paths=("app/util.py",)) and util[0] == 0
    assert bad == _check("--no-cache", paths=("app/bad.py",)) and bad[0] == 2


def test_a_symlink_to_a_task_module_is_replayed_as_a_fresh_run_shows_it(project: Path) -> None:
    """Findings in a symlink are shown where it leads: the entry still files them by the link."""
    (project / "alias.py").symlink_to(project / "app" / "jobs.py")
    for paths in [("alias.py",), (".",), ("alias.py",), ("app/jobs.py",), ("alias.py", "app/api.py")]:
        cached = _check(paths=paths)
        assert cached == _check("--no-cache", paths=paths), paths
        assert "app/jobs.py" in cached[1]
