"""`bglint check --fix` writes a file back the way it found it: line endings, BOM, encoding, mode.

Each case runs the real CLI on a file holding a BG201 finding whose fix edits a line and adds an
import, then runs `--fix` again to show the result is a fixpoint.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from bglint.cli import main

SOURCE = """\
import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()
GREETING = "café"


async def sync_inventory(sku: str) -> None:
    time.sleep(5)
    print(GREETING, sku)


@app.post("/inventory/{sku}")
async def refresh(sku: str, tasks: BackgroundTasks):
    tasks.add_task(sync_inventory, sku)
"""

FIXED_LINES = ("import asyncio", "    await asyncio.sleep(5)")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.bglint]\nselect = ["BG201"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fix(path: Path) -> str:
    result = CliRunner().invoke(main, ["check", "--fix", "--no-cache", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def _fixed_twice(path: Path) -> bytes:
    _fix(path)
    once = path.read_bytes()
    _fix(path)
    assert path.read_bytes() == once, "a second --fix changed the file"
    return once


def test_crlf_line_endings_are_kept(project: Path) -> None:
    path = project / "tasks.py"
    path.write_bytes(SOURCE.replace("\n", "\r\n").encode("utf-8"))
    data = _fixed_twice(path)
    text = data.decode("utf-8")
    assert all(line in text.split("\r\n") for line in FIXED_LINES)
    assert text.count("\n") == text.count("\r\n"), "a bare LF was written into a CRLF file"


def test_utf8_bom_is_kept(project: Path) -> None:
    path = project / "tasks.py"
    path.write_bytes(codecs.BOM_UTF8 + SOURCE.encode("utf-8"))
    data = _fixed_twice(path)
    assert data.startswith(codecs.BOM_UTF8)
    assert data.count(codecs.BOM_UTF8) == 1
    text = data[len(codecs.BOM_UTF8) :].decode("utf-8")
    assert all(line in text.splitlines() for line in FIXED_LINES)
    assert 'GREETING = "café"' in text


def test_latin1_coding_cookie_keeps_its_encoding(project: Path) -> None:
    path = project / "tasks.py"
    path.write_bytes(("# -*- coding: latin-1 -*-\n" + SOURCE).encode("latin-1"))
    data = _fixed_twice(path)
    assert b'GREETING = "caf\xe9"' in data, "the non-ASCII character was re-encoded"
    text = data.decode("latin-1")
    assert text.startswith("# -*- coding: latin-1 -*-\n")
    assert all(line in text.splitlines() for line in FIXED_LINES)


def test_file_mode_is_kept(project: Path) -> None:
    path = project / "tasks.py"
    path.write_text(SOURCE, encoding="utf-8")
    os.chmod(path, 0o640)
    _fixed_twice(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert all(line in path.read_text(encoding="utf-8").splitlines() for line in FIXED_LINES)


def test_second_fix_reports_nothing_to_do(project: Path) -> None:
    path = project / "tasks.py"
    path.write_text(SOURCE, encoding="utf-8")
    assert "Fixed 1 finding" in _fix(path)
    assert "Fixed" not in _fix(path)
