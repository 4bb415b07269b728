"""The command line: ``bglint check``, ``bglint rule CODE``, ``bglint rules`` (click).

What ``check`` does with its options is :func:`bglint.checking.check`; the ``bglint`` command
itself is :func:`bglint.entry.run`. Exit codes: see bglint.checking.
"""

from __future__ import annotations

import json
import sys
from typing import Optional, Tuple

import click

from bglint import __version__, checking
from bglint.config import ConfigError


def _fail(message: str) -> "click.exceptions.Exit":
    return click.exceptions.Exit(checking.failure(message))


class _Group(click.Group):
    def main(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # click's own usage errors exit 2 already; make sure nothing else leaks a traceback
        try:
            return super().main(*args, **kwargs)
        except ConfigError as err:  # pragma: no cover - commands convert these themselves
            sys.exit(checking.failure(str(err)))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bglint")
def main() -> None:
    """Find misuse of FastAPI/Starlette background tasks by reading code."""


def _format_choice() -> click.Choice:
    from bglint.reporters import names

    return click.Choice(names())


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, metavar="CODES", help="Rule codes or prefixes to check (replaces the default; ALL for every rule).")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rule codes or prefixes to check in addition.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rule codes or prefixes not to check.")
@click.option("--output-format", type=_format_choice(), default="full", show_default=True, help="How findings are printed.")
@click.option("--output-file", type=click.Path(dir_okay=False, writable=True), help="Write the report to this file instead of stdout.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("--config", type=click.Path(dir_okay=False), help="Read [tool.bglint] from this file instead of searching for one.")
@click.option("--fix", is_flag=True, help="Apply safe fixes.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, apply unsafe fixes too.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them (exit 1 if there are any).")
@click.option("--show-fixes", is_flag=True, help="List the fixes that were applied.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Processes: one per project of the run, up to N; a lone project plans its files in a second one (0: one per core).")
def check(
    paths: Tuple[str, ...],
    select: Tuple[str, ...],
    extend_select: Tuple[str, ...],
    ignore: Tuple[str, ...],
    output_format: str,
    output_file: Optional[str],
    exit_zero: bool,
    statistics: bool,
    config: Optional[str],
    fix: bool,
    unsafe_fixes: bool,
    diff: bool,
    show_fixes: bool,
    no_cache: bool,
    jobs: int,
) -> None:
    """Check PATHS (files or directories; default: the current directory)."""
    raise click.exceptions.Exit(
        checking.check(
            paths,
            select=select,
            extend_select=extend_select,
            ignore=ignore,
            output_format=output_format,
            output_file=output_file,
            exit_zero=exit_zero,
            statistics=statistics,
            config=config,
            fix=fix,
            unsafe_fixes=unsafe_fixes,
            diff=diff,
            show_fixes=show_fixes,
            no_cache=no_cache,
            jobs=jobs,
        )
    )


@main.command()
@click.argument("code")
def rule(code: str) -> None:
    """Print the documentation of rule CODE."""
    from bglint.docs import rule_markdown
    from bglint.rules import BY_CODE

    found = BY_CODE.get(code.upper())
    if found is None:
        raise _fail(f"unknown rule `{code}` (see `bglint rules`)")
    click.echo(rule_markdown(found, heading="#").rstrip())


@main.command(name="rules")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_command(output_format: str) -> None:
    """List every rule."""
    from bglint.rules import ALL_RULES

    if output_format == "json":
        data = [
            {
                "code": r.code,
                "name": r.name,
                "summary": r.summary,
                "severity": r.severity.value,
                "default_enabled": r.default_enabled,
                "fix": r.fix.value if r.fix else None,
                "url": r.url,
            }
            for r in ALL_RULES
        ]
        click.echo(json.dumps(data, indent=2))
        return
    for r in ALL_RULES:
        flags = ("fix:" + r.fix.value if r.fix else "") + ("" if r.default_enabled else " (off by default)")
        click.echo(f"{r.code}  {r.name:<32} {r.summary}{'  [' + flags.strip() + ']' if flags.strip() else ''}")
