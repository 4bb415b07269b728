"""The on-disk cache: a replay equals a fresh run, and anything that could change the result runs again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from bglint import cache as cache_mod
from bglint.cli import main

from ._cli import runner

API = """\
from fastapi import BackgroundTasks, FastAPI

from app.tasks import send_report

app = FastAPI()


@app.post("/report")
async def report(tasks: BackgroundTasks):
    tasks.add_task(send_report, "x")
    return {}
"""

TASKS_SLEEPING = """\
import time


async def send_report(name):
    time.sleep(1)
"""

TASKS_FINE = """\
import asyncio


async def send_report(name):
    await asyncio.sleep(1)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.bglint]\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "api.py").write_text(API)
    (app / "tasks.py").write_text(TASKS_SLEEPING)
    (app / "util.py").write_text("def helper():\n    return 1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check(*args: str) -> List[str]:
    result = runner().invoke(main, ["check", "--output-format", "json", *args, "."])
    assert result.exit_code in (0, 1), result.output + str(result.exception)
    return sorted(f"{f['path']}:{f['line']}:{f['column']}:{f['code']}" for f in json.loads(result.stdout) if f["code"] == "BG201")


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch):
    """Make any analysis fail: what is printed then can only come from the cache."""

    def arm() -> None:
        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("the engine ran")

        import bglint.engine

        monkeypatch.setattr(bglint.engine.Engine, "check", refuse)

    return arm


def _touch_later(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def _age_cache(root: Path) -> None:
    """Entries trust size and time only for files older than the entry (see cache.RACY_NS)."""
    for entry in (root / ".bglint_cache" / f"v{cache_mod.FORMAT}").glob("*.json"):
        data = json.loads(entry.read_text())
        data["written_ns"] += 10 * cache_mod.RACY_NS
        entry.write_text(json.dumps(data))


def test_a_second_run_replays_the_first(project: Path, no_engine) -> None:
    first = _check()
    assert first == ["app/tasks.py:5:5:BG201"]
    assert (project / ".bglint_cache" / ".gitignore").read_text().strip().endswith("*")
    _age_cache(project)
    no_engine()
    assert _check() == first


def test_the_replay_prints_the_same_report_in_every_format(project: Path) -> None:
    for fmt in ("full", "concise", "json", "sarif", "github"):
        fresh = runner().invoke(main, ["check", "--no-cache", "--output-format", fmt, "."])
        runner().invoke(main, ["check", "--output-format", fmt, "."])
        replayed = runner().invoke(main, ["check", "--output-format", fmt, "."])
        assert (replayed.exit_code, replayed.stdout) == (fresh.exit_code, fresh.stdout), fmt


def test_the_collector_is_off_until_the_entry_is_written(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its collections would scan every object of the analysis while the entry is written (0.44 s
    on litellm); it is on again after the run."""
    import gc

    seen: List[bool] = []
    store = cache_mod.Cache.store
    monkeypatch.setattr(cache_mod.Cache, "store", lambda self, *a, **k: seen.append(gc.isenabled()) or store(self, *a, **k))
    assert gc.isenabled()
    assert _check() == ["app/tasks.py:5:5:BG201"]
    assert seen == [False] and gc.isenabled()


def test_the_projects_fastapi_pin_decides_and_a_changed_pin_is_another_entry(project: Path, no_engine) -> None:
    """The pin is read from requirements.txt when a rule asks (BG101 holds from 0.106 to 0.117);
    the cache entry is keyed by the pin files' text."""
    app = Path(__file__).parent / "fixtures" / "BG101" / "fastapi_0110.py"
    (project / "app" / "db.py").write_text(app.read_text().split("\n", 1)[1])  # without its test header

    def bg101() -> List[str]:
        result = runner().invoke(main, ["check", "--output-format", "json", "--select", "BG101", "."])
        assert result.exit_code in (0, 1), result.output + str(result.exception)
        return [f"{f['path']}:{f['line']}" for f in json.loads(result.stdout)]

    (project / "requirements.txt").write_text("fastapi==0.110.0\n")
    assert bg101() == ["app/db.py:19", "app/db.py:24"]
    (project / "requirements.txt").write_text("fastapi==0.120.0\n")
    assert bg101() == []
    no_engine()
    (project / "requirements.txt").write_text("fastapi==0.110.0\n")
    assert bg101() == ["app/db.py:19", "app/db.py:24"]  # the first entry, replayed


def test_a_changed_task_module_is_analysed_again(project: Path) -> None:
    assert _check() == ["app/tasks.py:5:5:BG201"]
    _touch_later(project / "app" / "tasks.py", TASKS_FINE)
    assert _check() == []


def test_a_changed_file_nothing_read_and_without_hand_offs_keeps_the_replay(project: Path, no_engine) -> None:
    """BG202 is off: its fix reads every file, and then a change to any file is analysed (see
    tests/test_incremental.py)."""
    first = _check("--select", "BG201")
    _age_cache(project)
    _touch_later(project / "app" / "util.py", "def helper():\n    return 2  # changed\n")
    no_engine()
    assert _check("--select", "BG201") == first


def test_a_changed_file_that_gains_a_hand_off_is_analysed_again(project: Path) -> None:
    _check()
    _age_cache(project)
    _touch_later(project / "app" / "util.py", "import time\nfrom fastapi import BackgroundTasks\n\n\nasync def later():\n    time.sleep(1)\n\n\nasync def ep(t: BackgroundTasks):\n    t.add_task(later)\n")
    assert _check() == ["app/tasks.py:5:5:BG201", "app/util.py:6:5:BG201"]


def test_a_new_or_removed_file_is_analysed_again(project: Path) -> None:
    _check()
    _age_cache(project)
    (project / "app" / "util.py").unlink()
    assert _check() == ["app/tasks.py:5:5:BG201"]  # ran again (a module could now resolve elsewhere)
    (project / "app" / "tasks" ).mkdir()
    (project / "app" / "tasks" / "__init__.py").write_text(TASKS_FINE)  # the package wins the import
    assert _check() == []


def test_a_rewrite_within_the_timestamp_granularity_is_seen(project: Path) -> None:
    """Same size, and possibly the same mtime on a coarse clock: compared by content."""
    tasks = project / "app" / "tasks.py"
    assert _check() == ["app/tasks.py:5:5:BG201"]
    st = tasks.stat()
    tasks.write_text(TASKS_SLEEPING.replace("time.sleep(1)", "print(1)     "))
    os.utime(tasks, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tasks.stat().st_size == st.st_size
    assert _check() == []


def _entries(root: Path) -> List[dict]:
    return [json.loads(e.read_text()) for e in sorted((root / ".bglint_cache" / f"v{cache_mod.FORMAT}").glob("*.json"))]


def test_a_replay_that_compared_files_by_content_records_them_again(project: Path, monkeypatch: pytest.MonkeyPatch, no_engine) -> None:
    """A checkout touches every file: the first replay reads them, the ones after it do not."""
    first = _check()
    for path in project.rglob("*.py"):  # as after a checkout: new times, same content, long ago
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 10 * cache_mod.RACY_NS))
    compared: List[bytes] = []
    real = cache_mod.digest

    def counting(data: bytes) -> str:
        compared.append(data)
        return real(data)

    monkeypatch.setattr(cache_mod, "digest", counting)
    no_engine()
    assert _check() == first
    assert sorted(compared) == sorted(p.read_bytes() for p in project.rglob("*.py"))
    compared.clear()
    assert _check() == first
    assert compared == []


def test_a_replay_does_not_trust_a_file_changed_a_moment_ago(project: Path) -> None:
    """A file compared by content right after it was written is not recorded again: a second
    write within the clock's granularity (same size, same time) is still seen."""
    tasks = project / "app" / "tasks.py"
    assert _check() == ["app/tasks.py:5:5:BG201"]
    before = _entries(project)
    assert _check() == ["app/tasks.py:5:5:BG201"]  # replayed after comparing the fresh files
    assert _entries(project) == before
    st = tasks.stat()
    tasks.write_text(TASKS_SLEEPING.replace("time.sleep(1)", "print(1)     "))
    os.utime(tasks, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _check() == []


def test_a_file_changed_while_the_run_goes_on_is_analysed_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry records the files as the run read them: a file saved again after it was read (an
    editor, during a pre-commit run) is not replayed with the report made from its old text."""
    import bglint.engine

    real = bglint.engine.Engine.check

    def check_then_edit(self: object, *args: object, **kwargs: object) -> object:
        report = real(self, *args, **kwargs)  # type: ignore[arg-type]
        _touch_later(project / "app" / "tasks.py", TASKS_FINE)
        return report

    monkeypatch.setattr(bglint.engine.Engine, "check", check_then_edit)
    assert _check() == ["app/tasks.py:5:5:BG201"]  # what the run read
    monkeypatch.setattr(bglint.engine.Engine, "check", real)
    _age_cache(project)
    assert _check() == []


def test_other_settings_use_other_entries(project: Path, no_engine) -> None:
    assert _check() == ["app/tasks.py:5:5:BG201"]
    assert _check("--ignore", "BG201") == []
    (project / "pyproject.toml").write_text("[tool.bglint]\nignore = ['BG2']\n")
    assert _check() == []


def test_another_bglint_version_does_not_replay(project: Path, monkeypatch: pytest.MonkeyPatch, no_engine) -> None:
    _check()
    _age_cache(project)
    monkeypatch.setattr(cache_mod, "__version__", "0.0.0-other")
    no_engine()
    with pytest.raises(AssertionError, match="engine ran"):
        result = runner().invoke(main, ["check", "."])
        raise result.exception  # type: ignore[misc]


@pytest.mark.parametrize("garbage", [b"", b"{", b"\xff\xfe", b'{"format": 1}', b'{"format": 1, "files": 3, "consulted": [], "result": {}, "written_ns": 0}', b"[]"])
def test_a_corrupt_entry_is_ignored(project: Path, garbage: bytes) -> None:
    first = _check()
    entries = list((project / ".bglint_cache" / f"v{cache_mod.FORMAT}").glob("*.json"))
    assert entries
    for entry in entries:
        entry.write_bytes(garbage)
    assert _check() == first


def test_an_unwritable_cache_folder_changes_nothing(project: Path) -> None:
    (project / "blocker").write_text("a file where the cache folder would go")
    (project / "pyproject.toml").write_text("[tool.bglint]\ncache-dir = 'blocker/cache'\n")
    result = runner().invoke(main, ["check", "--output-format", "concise", "."])
    assert result.exit_code == 1 and "BG201" in result.stdout and result.exception is None or isinstance(result.exception, SystemExit)
    assert _check() == ["app/tasks.py:5:5:BG201"]


def test_no_cache_reads_and_writes_nothing(project: Path) -> None:
    assert _check("--no-cache") == ["app/tasks.py:5:5:BG201"]
    assert not (project / ".bglint_cache").exists()


def test_fix_never_replays(project: Path) -> None:
    _check()
    result = runner().invoke(main, ["check", "--fix", "--unsafe-fixes", "."])
    assert "Fixed" in result.stderr
    assert (project / "app" / "tasks.py").read_text() != TASKS_SLEEPING
    assert _check() == []


def test_runs_at_once_agree(project: Path) -> None:
    """Several processes reading and writing the same entry: each prints the full result."""
    cmd = [sys.executable, "-m", "bglint", "check", "--output-format", "concise", "."]
    procs = [subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    for (out, err), p in zip(outs, procs):
        assert p.returncode == 1, err
        assert "Traceback" not in err
        assert out.count("BG201") == 1
    assert len({out for out, _ in outs}) == 1
    again = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=120)
    assert again.stdout == outs[0][0]


def test_a_run_without_any_possible_hand_off_never_loads_the_parser(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import time\n\n\ndef f():\n    time.sleep(1)\n")
    code = "import sys\nfrom bglint.cli import main\ntry:\n    main(['check', '--no-cache', '.'])\nexcept SystemExit as e:\n    print(e.code, 'libcst' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["0", "False"], out.stderr


def test_a_replay_without_findings_loads_no_reader_no_toml_parser_no_engine(tmp_path: Path) -> None:
    """What pre-commit runs on a file without a hand-off, once the cache holds it: the modules that
    read sources, parse TOML and analyse are not imported (start-up is most of such a run)."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['fastapi>=0.115']\n")
    (tmp_path / "a.py").write_text("import time\n\n\ndef f():\n    time.sleep(1)\n")
    code = (
        "import sys\nfrom bglint.cli import main\ntry:\n    main(['check', 'a.py'])\nexcept SystemExit as e:\n"
        "    print(e.code, *[m for m in ('bglint.sources', 'tomllib', 'tomli', 'bglint.engine', 'libcst') if m in sys.modules])\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60) for _ in range(2)]
    assert runs[0].stdout.split()[:2] == ["0", "bglint.sources"], runs[0].stderr  # the first run reads a.py
    assert runs[1].stdout.split() == ["0"], runs[1].stderr


def test_the_entry_names_files_as_resolving_them_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """report.real_file (one lstat per file, one per folder) against Path.resolve, symlinks included."""
    from bglint.report import real_file

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "f.py").symlink_to(tmp_path / "a" / "x.py")
    monkeypatch.chdir(tmp_path)
    memo: dict = {}
    for name in ["a/x.py", "link/x.py", "f.py", "link/../a/x.py", "a/../link/x.py", str(tmp_path / "link" / "x.py"), "missing.py"]:
        assert real_file(name, memo) == str(Path(name).resolve()), name


def test_findings_are_filed_by_the_name_the_run_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cache.results_of finds each finding's file as discovery.display names it."""
    from bglint import discovery
    from bglint.cache import results_of
    from bglint.report import FileError, Report

    (tmp_path / "w" / "a").mkdir(parents=True)
    (tmp_path / "w" / "a" / "x.py").write_text("")
    (tmp_path / "w" / "f.py").symlink_to(tmp_path / "w" / "a" / "x.py")
    (tmp_path / "out.py").write_text("")
    (tmp_path / "w" / "c.py").write_text("")
    monkeypatch.chdir(tmp_path / "w")
    for name in ["a/x.py", "f.py", str(tmp_path / "w" / "a" / "x.py"), "../out.py", str(tmp_path / "out.py")]:
        path = Path(name)
        found = results_of(Report(errors=[FileError(discovery.display(path), "boom")]), [path, Path("c.py")])
        assert found is not None and [e.message for e in found[os.path.abspath(path)][1]] == ["boom"], name
