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


POSITION_CASES = [
    "import os\n\n\n# comment\n@app.post('/x')\nasync def f(a,\n      b):\n    return await g(a)  # trailing\nx = 1; y = f(x)\n",
    "x = 1\r\ny = (\r\n  2)\r\n\r\ndef f():\r\n    pass\r\n",
    "x = 1\ry = 2\rdef f():\r    return x\r",
    "def f():\n    return 1\n\ndef f():\n    return 1\n",  # the same statement twice
    "if True:\n    x = call()\n# footer comment\n",
    "x = call()",  # no trailing newline
    "def f():\n    pass\n\n# only comments after",
    "\n\n# header\n\nclass A(B):\n    x: int = f()\n\n    def m(self): return self.x\n",
]


def _all_nodes(tree: cst.Module):
    from bglint import walk

    stack = list(walk.children(tree))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(walk.children(node))


@pytest.mark.parametrize("text", POSITION_CASES + [p.read_text(encoding="utf-8") for p in sorted((Path(__file__).parent / "fixtures").rglob("*.py"))[:60]])
def test_positions_from_one_statement_equal_libcst_positions(text: str) -> None:
    from bglint.facts import collect

    tree = sources.parse(text)
    fast = collect("m.py", "m", "", text, tree)
    full = collect("m.py", "m", "", text, tree)
    for node in _all_nodes(tree):
        assert fast.position(node) == full.positions[node], (type(node).__name__, full.code_for(node))
    # only a top-level statement found twice in the file needs libcst's whole-module positions
    assert (fast._positions is None) == (text != POSITION_CASES[3])
