"""Applying fixes: non-overlapping text edits plus the imports they need, verified by re-parsing.

Rules attach :class:`~bglint.model.Fix` objects made of edits against the source text; the engine
calls :func:`apply` in rounds (re-linting in between) until nothing more changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from bglint import sources
from bglint.model import Finding, Fix, ImportNeed, Safety


@dataclass(frozen=True)
class Applied:
    text: str
    applied: Tuple[Finding, ...]
    dropped: Tuple[Tuple[Finding, str], ...]  # fixes refused, and why


def eligible(finding: Finding, unsafe: bool) -> bool:
    return finding.fix is not None and (finding.fix.safety is Safety.SAFE or unsafe)


def _splice(text: str, fixes: Sequence[Fix]) -> str:
    edits = sorted((e for f in fixes for e in f.edits), key=lambda e: (e.start, e.end))
    out, pos = [], 0
    for e in edits:
        out.append(text[pos : e.start])
        out.append(e.content)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


def _has_import(tree: cst.Module, need: ImportNeed) -> bool:
    for stmt in tree.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if need.name is None and isinstance(small, cst.Import):
                for alias in small.names:
                    if alias.asname is None and cst.helpers.get_full_name_for_node(alias.name) == need.module:
                        return True
            if need.name is not None and isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
                if cst.helpers.get_full_name_for_node(small.module) == need.module and not isinstance(small.names, cst.ImportStar):
                    if any(a.asname is None and cst.helpers.get_full_name_for_node(a.name) == need.name for a in small.names):
                        return True
    return False


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _import_insertion_offset(text: str, tree: cst.Module) -> Tuple[int, str]:
    """Where a new top-level import goes: after the leading run of imports (and the module
    docstring), else after the header comments. Returns the offset and a newline to put first
    when the line there has none."""
    last: Optional[cst.CSTNode] = None
    for i, stmt in enumerate(tree.body):
        if _is_import(stmt) or (i == 0 and _is_docstring(stmt)):
            last = stmt
            continue
        break
    starts = sources.line_starts(text)
    if last is None:
        header_lines = len(tree.header)
        return (starts[header_lines] if header_lines < len(starts) else len(text)), ""
    end_line = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)[last].end.line
    if end_line < len(starts):
        return starts[end_line], ""
    return len(text), tree.default_newline  # the import is the file's last line, without a newline


def add_imports(text: str, needs: Sequence[ImportNeed]) -> str:
    if not needs:
        return text
    tree = cst.parse_module(text)
    missing = []
    for need in needs:
        if need not in missing and not _has_import(tree, need):
            missing.append(need)
    if not missing:
        return text
    offset, prefix = _import_insertion_offset(text, tree)
    nl = tree.default_newline
    block = prefix + "".join(n.statement + nl for n in missing)
    return text[:offset] + block + text[offset:]


def apply(text: str, findings: Sequence[Finding], unsafe: bool) -> Applied:
    """Apply the eligible fixes of ``findings`` that do not overlap; drop any that would not parse."""
    chosen: List[Finding] = []
    dropped: List[Tuple[Finding, str]] = []
    taken: List[Tuple[int, int]] = []
    for f in sorted((f for f in findings if eligible(f, unsafe)), key=lambda f: f.fix.span):  # type: ignore[union-attr]
        start, end = f.fix.span  # type: ignore[union-attr]
        if any(start < e and s < end or (start == end == s) for s, e in taken):
            continue  # overlaps an edit already taken: the next round gets it
        chosen.append(f)
        taken.append((start, end))
    if not chosen:
        return Applied(text, (), tuple(dropped))

    def attempt(group: Sequence[Finding]) -> Optional[str]:
        fixes = [g.fix for g in group]  # type: ignore[misc]
        new = _splice(text, fixes)  # type: ignore[arg-type]
        try:
            cst.parse_module(new)
            new = add_imports(new, [i for fx in fixes for i in fx.imports])  # type: ignore[union-attr]
            cst.parse_module(new)
        except (cst.ParserSyntaxError, RecursionError, ValueError):
            return None
        return new

    new = attempt(chosen)
    if new is not None:
        return Applied(new, tuple(chosen), tuple(dropped))
    # one of them breaks the file: keep the ones that parse on their own, one at a time
    good: List[Finding] = []
    for f in chosen:
        if attempt([*good, f]) is not None:
            good.append(f)
        else:
            dropped.append((f, "the fixed code would not parse"))
    new = attempt(good) if good else text
    return Applied(new or text, tuple(good), tuple(dropped))
