"""Bounded fuzzing: checking never raises anything but a per-file SourceError, and fixing always
yields code that parses and is a fixpoint. Generated programs (hypothesmith) and mutated rule
fixtures, a few seconds in all."""

from __future__ import annotations

from pathlib import Path
from typing import List

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bglint.config import RawConfig, build_settings
from bglint.engine import Engine, lint_source
from bglint.rules import ALL_CODES, DEFAULT_CODES
from bglint.sources import SourceError
from tests._fixtures import FIXTURES

ALL = build_settings(RawConfig({"select": ["ALL"]}), ALL_CODES, DEFAULT_CODES)
SEEDS: List[str] = sorted(p.read_text(encoding="utf-8") for p in FIXTURES.rglob("*.py"))
PROLOGUE = "from fastapi import BackgroundTasks, FastAPI\nimport time, asyncio, os\napp = FastAPI()\n"


def check_and_fix(text: str, tmp: Path) -> None:
    try:
        lint_source(text, str(tmp / "fuzz_case.py"), ALL)
    except SourceError:
        return  # the input itself is broken: a clear per-file error is the right answer
    engine = Engine(ALL)
    project = engine.new_project()
    path = tmp / "fuzz_case.py"
    project.set_source(path, text)
    report = engine.check([path], fix=True, unsafe=True, write=False, project=project)
    assert not [e for e in report.errors if e.internal], report.errors
    try:
        compile(text, "input.py", "exec")
        compiles = True
    except (SyntaxError, ValueError):
        compiles = False  # libcst accepts more than the compiler (`await` in a plain def, ...)
    for ff in report.fixes:
        cst.parse_module(ff.fixed)  # a fix never produces code that does not parse ...
        if compiles:
            compile(ff.fixed, "fixed.py", "exec")  # ... nor breaks code that compiled
        project2 = engine.new_project()
        project2.set_source(path, ff.fixed)
        again = engine.check([path], fix=True, unsafe=True, write=False, project=project2)
        assert all(f.original == f.fixed for f in again.fixes), "a second fix run changed the code again"


def _mutate(text: str, data: st.DataObject) -> str:
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        op = data.draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "await", "async"]), label="op")
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif op == "indent":
            lines[i] = "    " + lines[i]
        elif op == "await" and lines[i].strip():
            stripped = lines[i].lstrip()
            lines[i] = lines[i][: len(lines[i]) - len(stripped)] + "await " + stripped
        elif op == "async":
            lines[i] = lines[i].replace("def ", "async def ", 1)
    return "\n".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_fixtures_never_crash(data: st.DataObject, tmp_path: Path) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    check_and_fix(_mutate(seed, data), tmp_path)


hypothesmith = pytest.importorskip("hypothesmith")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(code=hypothesmith.from_node())
def test_generated_programs_never_crash(code: str, tmp_path: Path) -> None:
    check_and_fix(PROLOGUE + code, tmp_path)
