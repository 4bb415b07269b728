"""The bundled example app: real findings, and `--fix` turns every fixable one into correct code."""

from __future__ import annotations

import py_compile
import shutil
from pathlib import Path

import pytest

from bglint.cli import main
from tests._cli import runner

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dest)
    monkeypatch.chdir(tmp_path)
    return dest


def codes(output: str) -> list:
    return sorted(line.split(" ")[1] for line in output.splitlines() if line)


def test_examples_have_findings(copy: Path) -> None:
    result = runner().invoke(main, ["check", "--output-format", "concise", "examples"])
    assert result.exit_code == 1, result.output
    assert result.stderr == ""
    # one finding per planted bug, nothing on the correct code next to it
    assert codes(result.stdout) == sorted(
        ["BG101", "BG104", "BG106", "BG201", "BG201", "BG202", "BG301", "BG302", "BG401"]
    )


def test_fix_examples_compiles_and_is_a_fixpoint(copy: Path) -> None:
    before = {p: p.read_bytes() for p in copy.rglob("*.py")}
    first = runner().invoke(main, ["check", "--fix", "--unsafe-fixes", "--output-format", "concise", "examples"])
    assert "Fixed" in first.stderr, first.output
    changed = [p for p, data in before.items() if p.read_bytes() != data]
    assert changed
    for path in copy.rglob("*.py"):
        py_compile.compile(str(path), doraise=True)
    snapshot = {p: p.read_bytes() for p in copy.rglob("*.py")}
    second = runner().invoke(main, ["check", "--fix", "--unsafe-fixes", "--output-format", "concise", "examples"])
    assert "Fixed" not in second.stderr
    assert {p: p.read_bytes() for p in copy.rglob("*.py")} == snapshot
    # what is left is only what has no automatic fix
    fixable_left = [line for line in second.stdout.splitlines() if line.split(" ")[1] in {"BG301", "BG302"}]
    assert fixable_left == []
