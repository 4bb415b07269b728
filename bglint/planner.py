"""Planning ahead on a core that would sit idle.

A project runs in one process: with one project and two cores (the usual run over a repository),
the second core does nothing. Before libcst parses a module, CPython's ``ast`` reads it to plan
what libcst parses now (:func:`bglint.planning.plan`); that plan is plain data, a function of the
text alone, and on a web project's candidate files it is about a quarter of the analysis. A
:class:`Planner` is a process forked with the candidates' texts that plans them, in the order the
hand-off search asks for them, and hands each plan over a pipe while this process parses. Each
text is planned once, by whichever process takes it first: a text asked for here before the
planner took it (the search follows imports to candidates further on) is planned here, rather than
waited for, and the planner passes over it. A text it did not plan (not a candidate, changed
since, the planner failed or died) is planned here as before: the plans are the same either way
(``facts.build`` takes one made elsewhere).

Linux only (the texts reach the process by ``fork``, without being sent).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional, Sequence, Set

from bglint import planning, sharing
from bglint.planning import PLAN_HERE

MIN_TEXT = 200_000  # characters of candidates: less is not worth a process


class Planner:
    """Plans of ``texts`` (each a module's source), made in another process, asked for in order."""

    def __init__(self, texts: Sequence[str], eager: Any) -> None:
        unique = list(dict.fromkeys(texts))  # copies of a file are planned once
        self._order = {text: i for i, text in enumerate(unique)}
        self._plans: Dict[int, Any] = {}
        self._asked: Set[int] = set()  # asked for again (a copy of a file): planned here
        # a text whose planning fails is left to this process, which then fails the same way,
        # where it is reported
        self._process, self._reader, self._claims = sharing.fork(unique, lambda text: planning.plan(text, eager))
        self._open = True

    def plan(self, text: str) -> Any:
        """The plan of ``text`` (None: parse it whole), or ``PLAN_HERE``: not a text given, or
        one the planner has not taken (this process takes it), or did not plan."""
        i = self._order.get(text)
        if i is None or i in self._asked:
            return PLAN_HERE
        self._asked.add(i)
        if i not in self._plans and self._open and self._claims.take(i, sharing.HERE):
            return PLAN_HERE
        while i not in self._plans and self._open:
            try:
                done, made, planned = self._reader.recv()
            except (EOFError, OSError):  # finished, or died: what is left is planned here
                self._open = False
                break
            self._plans[done] = planned if made else PLAN_HERE
        return self._plans.pop(i, PLAN_HERE)

    def close(self) -> None:
        self._open = False
        sharing.stop(self._process, self._reader)


def start(texts: Sequence[str], eager: Any) -> Optional[Planner]:
    """A planner for ``texts``, or None where it is not worth one or cannot run."""
    if not sys.platform.startswith("linux") or sum(map(len, texts)) < MIN_TEXT:
        return None
    try:
        return Planner(texts, eager)
    except (OSError, ValueError):  # no fork, no pipe: plan here
        return None
