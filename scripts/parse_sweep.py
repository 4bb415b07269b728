"""Parse sweep: parsing on demand must answer as a whole parse does, on real code.

    python scripts/parse_sweep.py DIR...            # every .py file under each DIR
    python scripts/parse_sweep.py --site-packages   # this interpreter's site-packages too

bglint parses with libcst only the top-level statements (and methods) that can hold a hand-off and
the others when first looked up (``facts.build``). Per file, every top-level def, class and
assigned name of a whole parse (``facts.collect``) is looked up on one on-demand parse, before
anything else of that file is parsed, and must be the same statement (for a class, also each of its
methods, looked up the same way, with the same facts, and the class's extent); and every name that
a function binds with ``global`` and imports must be known (``any_imports``) without parsing the rest.
Positions are checked against libcst's own metadata on the whole parse: every call, name and def
found from the code of its statement (as bglint finds positions), on the whole parse and in what
was parsed with the module (a text without the lines left out), and by the metadata of that
shorter tree mapped back to the file's lines. Files Python or
libcst cannot parse are skipped (the crash sweep counts them). Last, everything left is parsed and
every def (nested ones too) must have the whole parse's qualified name, place, code and counts of
calls and nested defs; ``--every-nested-def`` leaves out every nested def that can be, whatever
its size. Exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import ast
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep import py_files  # noqa: E402

import libcst as cst  # noqa: E402

from bglint import planning, sources, walk  # noqa: E402
from bglint.facts import build, collect  # noqa: E402
from bglint.report import PREFILTER  # noqa: E402

KINDS = ("functions", "classes", "assignments")


def _start(module, node) -> tuple:  # type: ignore[no-untyped-def]
    rng = module.position(node)
    return (rng.start.line, rng.start.column)


def _top_import_names(source: str) -> List[str]:
    """Names the module's own top-level import statements bind (a star import binds none we know)."""
    out: List[str] = []
    for stmt in ast.parse(source).body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            out.extend(a.asname or (a.name.split(".")[0] if isinstance(stmt, ast.Import) else a.name) for a in stmt.names if a.name != "*")
    return out


def _global_imports(source: str) -> List[str]:
    """Names a function declares ``global`` and imports: the module sees them (``any_imports``)."""
    out: List[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            declared = {n for stmt in ast.walk(node) if isinstance(stmt, ast.Global) for n in stmt.names}
            for stmt in ast.walk(node):
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    for alias in stmt.names:
                        local = alias.asname or alias.name.split(".")[0]
                        if local in declared:
                            out.append(local)
    return out


def check_file(path: Path) -> Optional[List[str]]:
    """The differences for one file (None: skipped, Python or libcst cannot read it)."""
    try:
        text = sources.decode(path.read_bytes()).text
        ast.parse(text)
        whole = collect(str(path), "m", "", text, sources.parse(text))
    except (sources.SourceError, SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    lazy = build(str(path), "m", "", text, PREFILTER)
    # before anything else is parsed: the module's imports (those at its top come from `ast`)
    out: List[str] = [f"import {k}: on demand {v}, whole parse {whole.imports.get(k)}" for k, v in lazy.imports.items() if whole.imports.get(k) != v]
    out += [f"import {k}: unknown on demand" for k in _top_import_names(text) if k in whole.imports and k not in lazy.imports]
    out += _eager_position_differences(lazy, whole)
    missing = [n for n in _global_imports(text) if n not in lazy.any_imports]
    if missing:
        out.append(f"imported as global, unknown until parsed: {', '.join(sorted(set(missing)))}")
    for kind in KINDS:
        for name, value in dict.items(getattr(whole, kind)):
            got = getattr(lazy, kind).get(name)
            want = value if kind == "assignments" else value.node
            if got is None:
                out.append(f"{kind[:-1]} {name}: not found on demand")
                continue
            node = got if kind == "assignments" else got.node
            if _start(lazy, node) != _start(whole, want):
                out.append(f"{kind[:-1]} {name}: on demand the one at {_start(lazy, node)}, whole parse the one at {_start(whole, want)}")
            elif kind == "classes":
                out.extend(_method_differences(name, lazy, got, whole, value))
    # then everything (nested defs left out too): each def where the whole parse has it
    lazy.parse_all()
    got_defs = Counter((f.qualname, _start(lazy, f.node), lazy.code_for(f.node), len(f.calls), len(f.nested)) for f in lazy.all_functions)
    want_defs = Counter((f.qualname, _start(whole, f.node), whole.code_for(f.node), len(f.calls), len(f.nested)) for f in whole.all_functions)
    for qualname, start, *_ in (got_defs - want_defs) + (want_defs - got_defs):
        out.append(f"def {qualname} at {start}: differs on demand (parsed after everything else)")
    return out


def _spans(module, top_nodes, whole_tree: bool = False) -> List[tuple]:  # type: ignore[no-untyped-def]
    """(kind, start, end, code) of every call, name and def under ``top_nodes``; ``whole_tree``:
    positions from the whole tree's metadata instead of one statement's code."""
    out = []
    stack = list(top_nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Call, cst.Name, cst.FunctionDef, cst.ClassDef)):
            rng = module.positions[node] if whole_tree else module.position(node)
            out.append((type(node).__name__, rng.start.line, rng.start.column, rng.end.line, rng.end.column, module.code_for(node)))
        stack.extend(walk.children(node))
    return out


def _eager_position_differences(lazy, whole) -> List[str]:  # type: ignore[no-untyped-def]
    """Every call, name and def must sit where libcst's own metadata puts it on a whole parse:
    on the whole parse, found from the code of the statement holding it; and in the statements
    parsed with the module (from a text without the lines left out), found either way."""
    # by statement first: once the whole tree's metadata is computed, ``position`` answers from it
    checks = [("whole parse, by statement", _spans(whole, whole.tree.body))]
    want = Counter(_spans(whole, whole.tree.body, whole_tree=True))
    if lazy.parsed_text != lazy.source:
        checks += [("on demand, by statement", _spans(lazy, lazy.tree.body)), ("on demand, whole tree", _spans(lazy, lazy.tree.body, whole_tree=True))]
    out = []
    for how, spans in checks:
        wrong = list(Counter(spans) - want)  # counted: two nodes must not share one place
        if wrong:
            out.append(f"{len(wrong)} position(s) differ ({how}), e.g. {wrong[0][:5]}")
    return out


def _method_differences(cls_name: str, lazy, lazy_cls, whole, whole_cls) -> List[str]:  # type: ignore[no-untyped-def]
    """A class's methods, looked up one by one on demand, against the whole parse's: the same
    def (position, code, end position) with the same facts."""
    out: List[str] = []
    for name, want in dict.items(whole_cls.methods):
        got = lazy_cls.methods.get(name)
        where = f"method {cls_name}.{name}"
        if got is None:
            out.append(f"{where}: not found on demand")
            continue
        a, b = lazy.position(got.node), whole.position(want.node)
        if (a.start, a.end) != (b.start, b.end) or lazy.code_for(got.node) != whole.code_for(want.node):
            out.append(f"{where}: on demand at {a.start}-{a.end}, whole parse at {b.start}-{b.end}")
            continue
        facts = lambda f: (f.qualname, f.class_name, f.is_async, f.is_generator, f.awaits, len(f.calls), sorted(f.assignments), len(f.nested))  # noqa: E731
        if facts(got) != facts(want):
            out.append(f"{where}: facts differ: on demand {facts(got)}, whole parse {facts(want)}")
    a, b = lazy.position(lazy_cls.node), whole.position(whole_cls.node)
    if (a.start, a.end) != (b.start, b.end):
        out.append(f"class {cls_name}: on demand at {a.start}-{a.end}, whole parse at {b.start}-{b.end}")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="*", help="folders to sweep")
    parser.add_argument("--site-packages", action="store_true", help="also sweep this interpreter's site-packages")
    parser.add_argument("--every-nested-def", action="store_true", help="leave out every nested def that can be, whatever its size (planning.MIN_NESTED = 0)")
    args = parser.parse_args(argv)
    if args.every_nested_def:
        planning.MIN_NESTED = 0
    roots = [Path(d) for d in args.dirs] + ([Path(sysconfig.get_paths()["purelib"])] if args.site_packages else [])
    if not roots:
        parser.error("give folders to sweep and/or --site-packages")
    start = time.perf_counter()
    checked = skipped = bad = 0
    for root in roots:
        for path in py_files(root):
            found = check_file(path)
            if found is None:
                skipped += 1
                continue
            checked += 1
            if found:
                bad += 1
                for line in found:
                    print(f"DIFF {path}: {line}")
    print(f"parse-sweep: {checked} files compared, {skipped} skipped, {bad} with differences, {time.perf_counter() - start:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
