"""Positions of a subtree, to compare a module parsed on demand with a whole parse."""

from __future__ import annotations

from typing import List, Tuple

from bglint.walk import children


def positions_under(facts: object, node: object) -> List[Tuple[str, int, int, int, int]]:
    """Every significant node under ``node``, in order, with its position in ``facts``' file."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        r = facts.position(n)  # type: ignore[attr-defined]
        out.append((type(n).__name__, r.start.line, r.start.column, r.end.line, r.end.column))
        stack.extend(reversed(children(n)))  # type: ignore[arg-type]
    return out
