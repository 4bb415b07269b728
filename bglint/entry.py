"""The ``bglint`` command.

pre-commit runs ``bglint check FILE...``: mostly files the cache answers for, where the run is
interpreter start-up and imports. click and what it imports (``inspect``, ``uuid``, ``datetime``,
...) are a fifth of that run, so that command line, ``check`` followed only by paths (none
starting with ``-``), goes straight to :func:`bglint.checking.check` with the command line's
defaults, which is what click calls with them. Any other command line goes through click
(:mod:`bglint.cli`), which also answers ``--help`` and usage errors; so does every command line
on Windows, where click expands ``*.py`` and ``~`` in the arguments itself (the shell does not).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Optional, Sequence


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
    """The exit status of ``bglint check PATH...`` run without click; None for any other command
    line. Ends as click's standalone mode would: an interrupt prints ``Aborted!`` (status 1), a
    reader gone (EPIPE) is status 1."""
    if os.name == "nt" or len(args) < 2 or args[0] != "check" or any(not a or a.startswith("-") for a in args[1:]):
        return None
    from bglint import checking

    try:
        return checking.check(args[1:])
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")
        return 1
    except OSError as err:
        if err.errno != errno.EPIPE:
            raise
        return 1  # flushing what is left fails too: run() keeps this status


def _exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` gives (None is 0; other non-ints are printed and 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1
