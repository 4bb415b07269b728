"""``--output-format github``: GitHub Actions workflow commands, one annotation per finding.

Escaping follows GitHub's actions toolkit (``@actions/core`` ``command.ts``): in the message ``%``,
``\\r`` and ``\\n`` become ``%25``, ``%0D`` and ``%0A``; in property values ``:`` and ``,`` also become
``%3A`` and ``%2C``.
"""

from __future__ import annotations

from bglint.model import Finding, Severity
from bglint.reporters import Output

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.ADVICE: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    from bglint.rules import BY_CODE

    rule = BY_CODE.get(f.code)
    title = f"{f.code} {rule.name}" if rule else f.code
    props = [
        ("file", f.path),
        ("line", str(f.line)),
        ("col", str(f.column)),
        ("endLine", str(f.end_line)),
        ("endColumn", str(f.end_column)),
        ("title", title),
    ]
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{_COMMANDS.get(f.severity, 'error')} {joined}::{escape_data(f.message)}"


def render_github(out: Output) -> str:
    return "".join(annotation(f) + "\n" for f in out.findings)
