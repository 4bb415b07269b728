"""Suppression comments: ``# noqa``, ``# noqa: BG101,BG201``, ``# bglint: ignore[BG101]`` and
``# bglint: skip-file``.

A finding is suppressed by a comment on its own line or on the first line of the statement that
holds it (for findings inside a multi-line call).
"""

from __future__ import annotations

import re
import io
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence

from bglint import sources
from bglint.model import Finding

# flake8's own pattern (flake8.defaults.NOQA_INLINE_REGEXP), so that one comment means the same to
# both: a code is letters then digits, and `# noqa: BG` (no digits) is a blanket `# noqa`
_NOQA = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>(?:[A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
_IGNORE = re.compile(r"#\s*bglint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_SKIP_FILE = re.compile(r"#\s*bglint:\s*skip-file\b", re.IGNORECASE)
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)

ALL = frozenset({"*"})


@dataclass
class Suppressions:
    """Per line: the codes suppressed there (``*`` for all)."""

    noqa: Dict[int, FrozenSet[str]] = field(default_factory=dict)
    ignore: Dict[int, FrozenSet[str]] = field(default_factory=dict)
    skip_file: bool = False

    def suppresses(self, finding: Finding, use_noqa: bool = True) -> bool:
        for line in (finding.line, *finding.suppress_lines):
            for table in ((self.noqa, self.ignore) if use_noqa else (self.ignore,)):
                codes = table.get(line)
                if codes is not None and (codes is ALL or _matches(finding.code, codes)):
                    return True
        return False


def _matches(code: str, codes: FrozenSet[str]) -> bool:
    # flake8 semantics: `# noqa: BG1` suppresses BG101 (prefix match)
    return any(code.startswith(c) for c in codes)


def _codes(text: Optional[str]) -> FrozenSet[str]:
    if not text or not text.strip():
        return ALL
    return frozenset(c.upper() for c in _CODE.findall(text))


def _comments(text: str) -> Iterable[tuple]:
    """(line, comment text) of every comment; falls back to a per-line scan if tokenizing fails."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.start[0], tok.string
    except (tokenize.TokenError, SyntaxError, IndentationError):
        for i, line in enumerate(sources.split_lines(text), 1):
            if "#" in line:
                yield i, line[line.index("#") :]


def parse(text: str) -> Suppressions:
    out = Suppressions()
    if "#" not in text:
        return out
    for line, comment in _comments(text):
        if _SKIP_FILE.search(comment):
            out.skip_file = True
        m = _IGNORE.search(comment)
        if m:
            out.ignore[line] = _codes(m.group("codes"))
        m = _NOQA.search(comment)
        if m:
            out.noqa[line] = _codes(m.group("codes"))
    return out


def _may_suppress(findings: Sequence[Finding], text: str) -> bool:
    """Whether a comment could suppress one of ``findings``: tokenizing a big file costs more than
    the rest of its analysis, so it is done only when the raw text of a line a finding refers to (or
    a ``skip-file`` anywhere) looks like a suppression. Tokenizing then tells comments from strings."""
    if _SKIP_FILE.search(text):
        return True
    lines = sources.split_lines(text)
    for f in findings:
        for n in (f.line, *f.suppress_lines):
            line = lines[n - 1] if 0 < n <= len(lines) else ""
            if "#" in line and (_NOQA.search(line) or _IGNORE.search(line)):
                return True
    return False


def filter_findings(findings: Sequence[Finding], text: str, use_noqa: bool = True) -> List[Finding]:
    if not findings:
        return []
    if not _may_suppress(findings, text):
        return list(findings)
    sup = parse(text)
    if sup.skip_file:
        return []
    return [f for f in findings if not sup.suppresses(f, use_noqa)]
