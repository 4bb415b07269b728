"""The human formats: ``full`` (with the source line and a caret) and ``concise`` (one line each)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List

from bglint.reporters import Output

if TYPE_CHECKING:  # pragma: no cover - a run that finds nothing need not import the model
    from bglint.model import Finding

_COLOURS = {"error": "red", "warning": "yellow", "advice": "cyan"}  # by Severity value


def line_of(f: Finding) -> str:
    return f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}"


def render_concise(out: Output) -> str:
    return "".join(line_of(f) + "\n" for f in out.findings)


def render_full(out: Output) -> str:
    if not out.findings:
        return ""
    from bglint import sources  # not at the top: a run that finds nothing reads no source

    if out.color:  # only a terminal is shown colours: click styles them
        import click

    parts: List[str] = []
    split: Dict[str, List[str]] = {}  # each file's lines, split once for all its findings
    for f in out.findings:
        head = f"{f.path}:{f.line}:{f.column}: "
        code = click.style(f.code, fg=_COLOURS.get(f.severity.value, "red"), bold=True) if out.color else f.code
        parts.append(f"{click.style(head, bold=True) if out.color else head}{code} {f.message}")
        lines = split.get(f.path)
        if lines is None:
            lines = split[f.path] = sources.split_lines(out.texts.get(f.path, ""))
        if 0 < f.line <= len(lines):
            src = lines[f.line - 1].expandtabs(1)
            gutter = str(f.line)
            pad = " " * len(gutter)
            width = (f.end_column - f.column) if f.end_line == f.line else len(src) - f.column + 1
            caret = " " * (f.column - 1) + "^" * max(1, width)
            if out.color:
                caret = click.style(caret, fg=_COLOURS.get(f.severity.value, "red"))
            parts.append(f"{pad} |\n{gutter} | {src}\n{pad} | {caret}")
        if f.fix is not None:
            parts.append(f"{' ' * len(str(f.line))} = fix ({f.fix.safety.value}): {f.fix.description}")
        parts.append("")
    return "\n".join(parts) + ("\n" if parts else "")
