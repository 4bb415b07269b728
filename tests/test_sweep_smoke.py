"""`scripts/sweep.py`, `scripts/fix_sweep.py` and `scripts/parse_sweep.py` on a tiny generated tree:
their figures are right, a crash makes the sweep fail, and a corrupting write is caught by the fix
sweep."""

from __future__ import annotations

import codecs
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bglint import sources

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

# BG201 (fixable: `await asyncio.sleep`) in an async task
FIXABLE = """\
import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def job(item: str) -> None:
    time.sleep(2)
    print(item, "caf\u00e9")


@app.post("/")
async def start(item: str, tasks: BackgroundTasks):
    tasks.add_task(job, item)
"""
# BG301 (no fix): the task is called instead of handed over
CALLED = FIXABLE.replace("tasks.add_task(job, item)", "tasks.add_task(job(item))").replace("time.sleep(2)", "pass")


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bglint_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "plain.py").write_text(FIXABLE, encoding="utf-8")
    (root / "pkg" / "crlf.py").write_bytes(FIXABLE.replace("\n", "\r\n").encode())
    (root / "pkg" / "bom.py").write_bytes(codecs.BOM_UTF8 + FIXABLE.encode())
    (root / "pkg" / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\n" + FIXABLE.encode("latin-1"))
    os.chmod(root / "pkg" / "latin.py", 0o755)
    (root / "called.py").write_text(CALLED, encoding="utf-8")
    (root / "clean.py").write_text("x = 1\n", encoding="utf-8")
    (root / "syntax.py").write_text("def f(tasks):\n    tasks.add_task(\n", encoding="utf-8")
    (root / "nul.py").write_bytes(b"add_task = 1\x00\n")
    (root / "deep.py").write_text("add_task = " + "(" * 300 + "1" + ")" * 300 + "\n", encoding="utf-8")
    (root / "notes.txt").write_text("add_task", encoding="utf-8")
    return root


def test_sweep_counts_files_errors_and_findings(tree: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "sweep.py"), str(tree)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sweep: 9 files in 1 unit(s), ")  # then the time taken
    assert lines[1:] == [
        "  files checked:   6",
        "  input errors:    3 (syntax 1, decode 1, nesting 1, other 0)",
        "  internal errors: 0",
        "  findings:        9",
        "    BG201  4",
        "    BG202  4",
        "    BG301  1",
    ]


def test_sweep_fails_on_an_internal_error(tree: Path, capsys: pytest.CaptureFixture) -> None:
    from bglint.rules import handoff

    def boom(site, ctx):  # type: ignore[no-untyped-def]
        raise ValueError("simulated bug")

    checks = handoff.AWAITED_ADD_TASK.site_checks
    saved = list(checks)
    checks[:] = [boom]
    try:
        assert load("sweep").main([str(tree)]) == 1
    finally:
        checks[:] = saved
    out = capsys.readouterr().out
    assert "  internal errors: 5\n" in out
    assert out.count("INTERNAL ") == 5
    assert "internal error in bglint: BG302: ValueError: simulated bug" in out


def test_fix_sweep_figures_and_a_clean_result(tree: Path, capsys: pytest.CaptureFixture) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    assert load("fix_sweep").main([str(tree)]) == 0
    assert capsys.readouterr().out == (
        f"fix-sweep: {tree}\n"
        "  files:             9 (5 changed)\n"
        "  fixable findings:  5\n"  # BG201 in the four async tasks (BG202 goes away with it), BG301
        "  fixes applied:     5\n"
        "  not applied:       0\n"
        "  fixes verified:    5\n"
        "  problems:          0\n"
    )
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before  # only a copy was fixed


def test_fix_sweep_catches_a_corrupting_write(tree: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    real = sources.write_atomic

    def lossy(path, data):  # type: ignore[no-untyped-def]
        # loses the BOM and the CRLF line endings, and truncates the plain file
        data = data.replace(b"\r\n", b"\n")
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        if Path(path).name == "plain.py":
            data = data[: len(data) // 2]
        real(path, data)

    monkeypatch.setattr(sources, "write_atomic", lossy)
    assert load("fix_sweep").main([str(tree)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM pkg/bom.py: BOM added or lost" in out
    assert "PROBLEM pkg/crlf.py: line endings changed" in out
    assert "PROBLEM plain.py: fixed file no longer compiles" in out
    assert "PROBLEM plain.py: the file on disk is not the fixed text" in out
    assert "  fixes verified:    2\n" in out  # only latin.py and called.py were written faithfully


def test_parse_sweep_compares_what_both_parsers_read(tree: Path, capsys: pytest.CaptureFixture) -> None:
    # syntax.py (Python says no), nul.py (cannot decode) and deep.py (too nested for libcst) are skipped
    assert load("parse_sweep").main([str(tree)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("parse-sweep: 6 files compared, 3 skipped, 0 with differences, "), out


def test_parse_sweep_knows_names_imported_as_globals() -> None:
    text = "def load():\n    global np, pd\n    import numpy as np\n    import os\n\n\ndef other():\n    import pandas as pd\n"
    # `pd` is global only in `load`: imported elsewhere, it is another function's local
    assert load("parse_sweep")._global_imports(text) == ["np"]
