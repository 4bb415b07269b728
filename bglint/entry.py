"""The ``bglint`` command.

pre-commit runs ``bglint check FILE...``: mostly files the cache answers for, where the run is
interpreter start-up and imports. click and what it imports (``inspect``, ``uuid``, ``datetime``,
...) are a fifth of that run, so ``check`` followed by paths and the options click would take
without a question (flags, ``--select``/``--extend-select``/``--ignore`` CODES, a known
``--output-format``, ``--jobs N``: see :func:`_check_options`) goes straight to
:func:`bglint.checking.check` with what click would call it with. Any other command line goes
through click (:mod:`bglint.cli`), which also answers ``--help`` and usage errors; so does every
command line on Windows, where click expands ``*.py`` and ``~`` in the arguments itself (the
shell does not).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple


EXITING = False  # run() ends the process with os._exit: what the run leaves alive is never freed


def run() -> None:
    """The command, then out of the process without tearing the interpreter down (collecting
    every module's objects takes ~10 ms of a 90 ms run on one file; mypy exits the same way).
    Output is flushed first. What ends otherwise (a crash) leaves the usual way."""
    global EXITING
    EXITING = True
    try:
        code = _check_paths(sys.argv[1:])
        if code is None:
            from bglint.cli import main

            main()
            code = 0  # not reached in standalone mode: click always exits
    except SystemExit as done:
        code = _exit_status(done.code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # the reader left (`bglint check | head`): Python's status for it
            code = code or 120
    os._exit(code)


def _check_paths(args: Sequence[str]) -> Optional[int]:
    """The exit status of ``bglint check [OPTIONS] PATH...`` run without click (see
    :func:`_check_options`); None for any other command line. Ends as click's standalone mode
    would: an interrupt prints ``Aborted!`` (status 1), a reader gone (EPIPE) is status 1."""
    parsed = _check_options(args[1:]) if os.name != "nt" and args[:1] == ["check"] else None
    if parsed is None:
        return None
    from bglint import checking

    paths, options = parsed
    try:
        return checking.check(paths, **options)
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")
        return 1
    except OSError as err:
        if err.errno != errno.EPIPE:
            raise
        return 1  # flushing what is left fails too: run() keeps this status


_FLAGS = {f"--{name.replace('_', '-')}": name for name in ("exit_zero", "statistics", "fix", "unsafe_fixes", "diff", "show_fixes", "no_cache")}
_CODES = {"--select": "select", "--extend-select": "extend_select", "--ignore": "ignore"}


def _check_options(args: Sequence[str]) -> Optional[Tuple[List[str], Dict[str, Any]]]:
    """``check``'s paths and options, as click parses them into the arguments of
    :func:`bglint.checking.check`; None for a command line that needs click: any other option, a
    value that could be an option, one click would refuse (an unknown output format, a number
    of jobs that is not a plain one), a path starting with ``-`` or empty, ``--``."""
    paths: List[str] = []
    options: Dict[str, Any] = {}
    words = iter(args)
    for word in words:
        if not word:
            return None
        if not word.startswith("-"):
            paths.append(word)
            continue
        name, equals, value = word.partition("=")
        if name in _FLAGS and not equals:
            options[_FLAGS[name]] = True
            continue
        if name not in _CODES and name not in ("--output-format", "--jobs", "-j"):
            return None
        if not equals:
            value = next(words, "")
            if not value or value.startswith("-"):
                return None
        elif name == "-j":  # (click reads `-j=2` as the value "=2")
            return None
        if name in _CODES:
            options[_CODES[name]] = (*options.get(_CODES[name], ()), value)
        elif name == "--output-format":
            from bglint.reporters import FORMATS

            if value not in FORMATS:
                return None
            options["output_format"] = value
        elif value.isascii() and value.isdigit():
            options["jobs"] = int(value)
        else:
            return None
    return paths, options


def _exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` gives (None is 0; other non-ints are printed and 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1
