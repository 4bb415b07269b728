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

The candidates planned, the planner goes on with the project's other files that the candidates
import (:func:`imported_first`): the search and the rules look into some of them (a task's
module, a dependency's, an ORM model's). Those plans are kept as they come, unread, and used if
this process asks for that file with the same text; the rest are never unpickled.

Linux only (the texts reach the process by ``fork``, without being sent).
"""

from __future__ import annotations

import pickle
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from bglint import planning, sharing
from bglint.planning import PLAN_HERE

MIN_TEXT = 200_000  # characters of candidates: less is not worth a process


class Planner:
    """Plans of ``texts`` (each a module's source; ``paths``: their files, if known), made in
    another process, asked for in order; then of the project's ``others`` files (path, text) the
    candidates import."""

    def __init__(self, texts: Sequence[str], eager: Any, paths: Sequence[Path] = (), others: Sequence[Tuple[Path, str]] = ()) -> None:
        unique = list(dict.fromkeys(texts))  # copies of a file are planned once
        self._order = {text: i for i, text in enumerate(unique)}
        self._plans: Dict[int, Any] = {}
        self._asked: Set[int] = set()  # asked for again (a copy of a file): planned here
        # the other files: by index (after the candidates) while the planner runs; then, by
        # resolved path, their text and pickled plan as received
        self._others: List[Tuple[Path, str]] = list(others)
        self._received: Dict[str, Tuple[str, bytes]] = {}
        n = len(unique)
        files = list(zip(paths, texts))

        def work(item: Any) -> Any:
            if isinstance(item, str):
                return planning.plan(item, eager)
            path, text = item  # one of the others: most are never asked for, so sent unread
            return str(Path(path).resolve()), pickle.dumps(planning.plan(text, eager), pickle.HIGHEST_PROTOCOL)

        def order() -> Iterator[int]:
            yield from range(n)
            yield from (n + k for k in imported_first(files, self._others))

        # a text whose planning fails is left to this process, which then fails the same way,
        # where it is reported
        items: List[Any] = [*unique, *self._others]
        self._process, self._reader, self._claims = sharing.fork(items, work, order=order)
        self._n = n
        self._open = True  # plans may come (False: the planner ended, or was stopped)
        self._closed = False

    def plan(self, text: str, path: Optional[Path] = None) -> Any:
        """The plan of ``text`` (None: parse it whole), or ``PLAN_HERE``: not a text given, or
        one the planner has not taken (this process takes it), or did not plan. ``path``: the
        file's resolved path (a file not among the candidates is known by it)."""
        i = self._order.get(text)
        if i is None:
            return self._plan_of_other(text, path) if path is not None else PLAN_HERE
        if i in self._asked:
            return PLAN_HERE
        self._asked.add(i)
        if i not in self._plans and self._open and self._claims.take(i, sharing.HERE):
            return PLAN_HERE
        while i not in self._plans and self._open and self._receive():
            pass
        return self._plans.pop(i, PLAN_HERE)

    def _plan_of_other(self, text: str, path: Path) -> Any:
        """The plan of one of the other files, if the planner sent it (never waited for)."""
        if self._open:
            self._receive_sent()
        found = self._received.pop(str(path), None)
        if found is None or found[0] != text:  # not planned (yet), or changed since
            return PLAN_HERE
        return pickle.loads(found[1])

    def _receive(self) -> bool:
        """One plan from the planner; False when there are no more (it finished, or died)."""
        try:
            done, made, planned = self._reader.recv()
        except (EOFError, OSError):
            self._open = False
            return False
        if done < self._n:
            self._plans[done] = planned if made else PLAN_HERE
        elif made:
            resolved, data = planned
            self._received[resolved] = (self._others[done - self._n][1], data)
        return True

    def _receive_sent(self) -> None:
        """The plans sent so far, without waiting for more."""
        while self._open and self._reader.poll() and self._receive():
            pass

    def close(self) -> None:
        """Stop the planner; the plans of other files it sent stay (the lint asks for some)."""
        if self._closed:
            return
        self._closed = True
        # what it sent, up to the end of the pipe (a plan cut short by the kill is dropped)
        sharing.stop(self._process, self._reader, self._claims, drain=self._receive_sent)
        self._open = False
        self._others = []


def start(texts: Sequence[str], eager: Any, paths: Sequence[Path] = (), others: Sequence[Tuple[Path, str]] = ()) -> Optional[Planner]:
    """A planner for ``texts``, or None where it is not worth one or cannot run."""
    if not sys.platform.startswith("linux") or sum(map(len, texts)) < MIN_TEXT:
        return None
    try:
        return Planner(texts, eager, paths, others)
    except (OSError, ValueError):  # no fork, no pipe: plan here
        return None


# -- which of the other files first ----------------------------------------------------------
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]*)", re.M)
_WORD = re.compile(r"[A-Za-z_]\w*")


def imported_first(files: Sequence[Tuple[Path, str]], others: Sequence[Tuple[Path, str]]) -> List[int]:
    """The ``others`` (by index) that the ``files`` import, those imported by more of them first
    (then by the first to import them): a guess at which the analysis looks into, from the import
    lines' text and the files' paths (a dotted name is matched with the end of a path)."""
    by_name: Dict[str, List[int]] = {}
    for k, (path, _) in enumerate(others):
        parts = _module_parts(Path(path))
        for j in range(len(parts)):
            by_name.setdefault(".".join(parts[j:]), []).append(k)
    count: Dict[int, int] = {}
    first: Dict[int, int] = {}
    for order, (path, text) in enumerate(files):
        hit = {k for name in _imported_names(Path(path), text) for k in by_name.get(name, ())}
        for k in hit:
            count[k] = count.get(k, 0) + 1
            first.setdefault(k, order)
    return sorted(count, key=lambda k: (-count[k], first[k], k))


def _module_parts(path: Path) -> List[str]:
    parts = list(path.parts)
    parts[-1] = parts[-1][:-3] if parts[-1].endswith(".py") else parts[-1]
    if parts[-1] == "__init__":
        parts.pop()
    return parts


def _imported_names(path: Path, text: str) -> Iterator[str]:
    """The dotted names ``text`` imports, and what it imports from each (a submodule, maybe)."""
    package = list(path.parts[:-1])
    for match in _FROM.finditer(text):
        dots, module, names = match.groups()
        if dots:  # relative: from the file's folder up
            base = package[: len(package) - len(dots) + 1] if len(dots) > 1 else package
            module = ".".join([*base, module] if module else base)
        if module:
            yield module
        for name in _WORD.findall(names):
            if name != "as":
                yield f"{module}.{name}" if module else name
    for match in _IMPORT.finditer(text):
        for part in match.group(1).split(","):
            name = part.split(" as ")[0].strip()
            if name:
                yield name
