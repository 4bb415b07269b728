"""``--output-format sarif``: one SARIF 2.1.0 run, with a descriptor for every rule.

Columns are counted in Unicode code points (``columnKind``), as bglint counts them. Paths are given
as relative URIs with forward slashes (absolute ``file:`` URIs for files outside the current folder).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Dict, List
from urllib.parse import quote

from bglint import __version__
from bglint.model import Finding, Rule, Severity
from bglint.reporters import Output

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/bglint/bglint"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.ADVICE: "note"}


def uri_for(path: str) -> str:
    """A relative path as a relative URI reference with ``/``; an absolute one as a ``file:`` URI."""
    if PureWindowsPath(path).drive:
        return PureWindowsPath(path).as_uri()
    posix = PureWindowsPath(path).as_posix() if "\\" in path else path
    if PurePosixPath(posix).is_absolute():
        return PurePosixPath(posix).as_uri()
    return quote(posix, errors="surrogateescape")  # a name that is not UTF-8: its bytes, as as_uri() does


def descriptor(rule: Rule) -> Dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why.strip() or rule.summary},
        "helpUri": rule.url,
        "defaultConfiguration": {"level": LEVELS[rule.severity], "enabled": rule.default_enabled},
    }


def result(f: Finding, index: int) -> Dict[str, Any]:
    return {
        "ruleId": f.code,
        "ruleIndex": index,
        "level": LEVELS.get(f.severity, "error"),
        "message": {"text": f.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri_for(f.path)},
                    "region": {
                        "startLine": f.line,
                        "startColumn": f.column,
                        "endLine": f.end_line,
                        "endColumn": f.end_column,
                    },
                }
            }
        ],
    }


def render_sarif(out: Output) -> str:
    from bglint.rules import ALL_RULES

    positions = {r.code: i for i, r in enumerate(ALL_RULES)}
    results: List[Dict[str, Any]] = [result(f, positions.get(f.code, -1)) for f in out.findings]
    invocation: Dict[str, Any] = {"executionSuccessful": not out.errors}
    if out.errors:
        invocation["toolExecutionNotifications"] = [
            {
                "level": "error",
                "message": {"text": message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri_for(path)}}}],
            }
            for path, message in out.errors
        ]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bglint",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [descriptor(r) for r in ALL_RULES],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "invocations": [invocation],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
