"""The speed-ups change nothing observable: validation of hand-built nodes, the garbage collector."""

from __future__ import annotations

import gc
from pathlib import Path

import libcst as cst
import pytest

from bglint import sources
from bglint.config import RawConfig, build_settings
from bglint.engine import Engine
from bglint.rules import ALL_CODES, DEFAULT_CODES


def test_nodes_built_outside_the_parser_are_still_validated() -> None:
    sources.parse("x = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")


def test_syntax_errors_are_still_reported() -> None:
    with pytest.raises(sources.SourceError, match="syntax error"):
        sources.parse("def f(:\n")


def test_check_restores_the_garbage_collector(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    engine = Engine(build_settings(RawConfig(), ALL_CODES, DEFAULT_CODES, root=tmp_path))
    assert gc.isenabled()
    engine.check([tmp_path / "a.py"])
    assert gc.isenabled()
    gc.disable()
    try:
        engine.check([tmp_path / "a.py"])
        assert not gc.isenabled()
    finally:
        gc.enable()
