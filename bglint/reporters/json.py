"""``--output-format json``: a list of findings, each with its rule's URL and its fix as line/column edits."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from bglint.model import Finding
from bglint.reporters import Output
from bglint.reporters._positions import LineIndex


def _location(index: Optional[LineIndex], offset: int) -> Dict[str, int]:
    line, column = index.position(offset) if index is not None else (0, 0)
    return {"line": line, "column": column}


def _fix(f: Finding, index: Optional[LineIndex]) -> Optional[Dict[str, Any]]:
    if f.fix is None:
        return None
    return {
        "applicability": f.fix.safety.value,
        "message": f.fix.description,
        "edits": [
            {"content": e.content, "location": _location(index, e.start), "end_location": _location(index, e.end)}
            for e in sorted(f.fix.edits, key=lambda e: (e.start, e.end))
        ],
    }


def finding_dict(f: Finding, text: Optional[str], index: Optional[LineIndex] = None) -> Dict[str, Any]:
    """``f`` as JSON; ``text``: its file's text, for the positions of its fix's edits (``index``:
    that text's lines, when the caller has them already)."""
    from bglint.rules import BY_CODE

    if index is None and text is not None and f.fix is not None:
        index = LineIndex(text)
    rule = BY_CODE.get(f.code)
    return {
        "code": f.code,
        "message": f.message,
        "severity": f.severity.value,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "url": rule.url if rule else None,
        "fix": _fix(f, index),
    }


def render_json(out: Output) -> str:
    indexes: Dict[str, Optional[LineIndex]] = {}  # each file's lines, found once for all its findings

    def index(path: str) -> Optional[LineIndex]:
        if path not in indexes:
            text = out.texts.get(path)
            indexes[path] = LineIndex(text) if text is not None else None
        return indexes[path]

    data: List[Dict[str, Any]] = [finding_dict(f, out.texts.get(f.path), index(f.path) if f.fix is not None else None) for f in out.findings]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
