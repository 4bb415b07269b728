"""bglint.walk reads the same children, in the same order, as libcst's own (slow) traversal."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path
from typing import List, Tuple

import libcst as cst
import pytest

from bglint import walk

FIXTURES = Path(__file__).parent / "fixtures"
# real code covering most of the grammar, shipped with CPython's test suite where installed
_STDLIB_TESTS = Path(inspect.getfile(dataclasses)).parent / "test"
NEW_SYNTAX = '''
type Alias[T: int = str, *Ts, **P] = list[T]
def generic[T](x: T, /, y=1, *args: int, z, **kw) -> T: ...
class Box[T](Base, metaclass=Meta): ...
lazy_result = f"{value!r:>{width}} {other=}"
match command:
    case Point(x=0, y=yy) | [1, *rest] if yy > (n := 2):
        pass
    case {"k": v, **others} as whole:
        pass
try:
    pass
except* (ValueError, TypeError) as group:
    raise RuntimeError("x") from group
async def agen():
    async with a as (b, c), d:
        async for i in aiter(): yield i
    await x; return [i async for i in y if i]
print(lambda a, *, b=1: a + b, {**m, 1: 2}, {*s}, (yield), x[1:2:3, ...], not -a or b and c)
'''


def _corpus() -> List[Tuple[str, str]]:
    texts = [("new-syntax", NEW_SYNTAX)]
    texts += [(str(p), p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.rglob("*.py"))]
    for name in ("test_grammar.py", "test_patma.py", "test_fstring.py"):
        path = _STDLIB_TESTS / name
        if path.is_file():
            texts.append((name, path.read_text(encoding="utf-8")))
    texts.append(("walk.py", Path(walk.__file__).read_text(encoding="utf-8")))
    return texts


def _node_classes() -> List[type]:
    found = {
        c
        for c in vars(cst).values()
        if isinstance(c, type) and issubclass(c, cst.CSTNode) and dataclasses.is_dataclass(c) and not inspect.isabstract(c)
    }
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _node_classes(), ids=lambda c: c.__name__)
def test_table_matches_derivation(cls: type) -> None:
    if walk._LIBCST_VERSION != walk._TABLE_VERSION:
        pytest.skip("the table is for another libcst version")
    assert walk._FIELDS_TABLE.get(cls.__name__, ()) == walk.derive_fields(cls)


class _Events(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.events: List[Tuple[str, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not walk._is_layout(type(node)):
            self.events.append(("visit", id(node)))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if not walk._is_layout(type(original_node)):
            self.events.append(("leave", id(original_node)))


class _WalkEvents:
    def __init__(self, classes: List[type]) -> None:
        self.events: List[Tuple[str, int]] = []
        for cls in classes:
            setattr(self, "visit_" + cls.__name__, lambda n: self.events.append(("visit", id(n))))
            setattr(self, "leave_" + cls.__name__, lambda n: self.events.append(("leave", id(n))))


@pytest.mark.parametrize("name,text", _corpus(), ids=[n for n, _ in _corpus()])
def test_children_and_walk_match_libcst(name: str, text: str) -> None:
    try:
        tree = cst.parse_module(text)
    except cst.ParserSyntaxError:
        pytest.skip("not parseable by this libcst")
    stack: List[cst.CSTNode] = [tree]
    while stack:
        node = stack.pop()
        expected = walk.significant_children_reference(node)
        assert [id(c) for c in walk.children(node)] == [id(c) for c in expected], type(node).__name__
        stack.extend(expected)
    reference = _Events()
    tree.visit(reference)
    mine = _WalkEvents(_node_classes())
    walk.walk(tree, mine)
    assert mine.events == reference.events


def test_visit_returning_false_skips_children_but_still_leaves() -> None:
    tree = cst.parse_module("def f():\n    g()\nh()\n")
    seen: List[str] = []

    class Visitor:
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            seen.append("def")
            return False

        def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
            seen.append("/def")

        def visit_Call(self, node: cst.Call) -> None:
            seen.append(cst.Module([]).code_for_node(node.func))

    walk.walk(tree, Visitor())
    assert seen == ["def", "/def", "h"]


def test_unknown_libcst_version_derives_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walk, "_LIBCST_VERSION", "0.0.0")
    monkeypatch.setattr(walk, "_FIELDS", {})
    tree = cst.parse_module("@d(1)\nasync def f(a, /, b=g()) -> int:\n    return await h(x)\n")
    stack: List[cst.CSTNode] = [tree]
    while stack:
        node = stack.pop()
        expected = walk.significant_children_reference(node)
        assert walk.children(node) == expected
        stack.extend(expected)


def test_deep_trees_do_not_exhaust_the_stack() -> None:
    tree = cst.parse_module("x = " + " + ".join(["a"] * 3000) + "\n")
    count = []

    class Names:
        def visit_Name(self, node: cst.Name) -> None:
            count.append(node)

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        walk.walk(tree, Names())
    finally:
        sys.setrecursionlimit(old)
    assert len(count) == 3001
