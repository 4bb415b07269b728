"""Re-analysing only what a change can affect.

A cache entry made by a run that recorded dependencies (see :meth:`bglint.project.Project.record`)
says, for each linted file, which files its analysis read, and for each candidate (a file that can
hold a hand-off), which files its hand-offs and their targets were found from and which files the
targets are in. When only the content of some files changed (the same files, none added or
removed: those make another run key or fail the look), a file's findings can change only if

- its own analysis read a changed file (itself included), or every file (:data:`ANY_FILE`);
- a hand-off into it may have changed: some candidate whose index read a changed file held a
  hand-off into it before, or holds one now.

Those files are linted again if the run checks them (else the entry forgets their findings), and
so are the checked files the entry holds no findings for yet (it serves every run over the project,
whichever files each checks), with a task index built only from the candidates that can hand work
to them (their recorded hand-off holders, and every candidate whose index is stale), in the order of
the full run; every other file's findings are the entry's. The result is the one a full run gives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set, Tuple

from bglint import discovery
from bglint.cache import ANY_FILE, Deps, ReadLog, Stale, report_of, results_from_json, results_of
from bglint.report import FileError
from bglint.sources import SourceError, read

if TYPE_CHECKING:  # pragma: no cover
    from bglint.config import Settings
    from bglint.engine import Engine
    from bglint.report import Report


def rerun(settings: "Settings", files: Sequence[Path], context: Sequence[Path], stale: Stale, log: ReadLog, use_noqa: bool = True) -> Optional["Report"]:
    """The report of a full run over ``files`` (``context``: the project's other files), made by
    re-linting only what ``stale``'s changes can affect (and the files the entry holds no findings
    for), and stored in its entry; its ``texts`` hold only the files it read. None when the entry
    cannot say (the caller runs in full). ``use_noqa``: as the entry's engine had it."""
    data = stale.data
    try:
        deps = Deps.from_json(data)
        records: Dict[str, List] = {name: list(rec) for name, rec in data["files"].items()}
        resolved_of = dict(zip(records, Deps.resolved(data)))
        consulted = {resolved_of.get(name, name) for name in data["consulted"]}
        results = results_from_json(data)
        records.update(stale.changed)
        changed = {resolved_of[name] for name in stale.changed}
        missing = {resolved_of[name] for name in stale.missing}
    except Exception:  # any shape of corruption: run in full
        return None
    candidate = {resolved_of[name] for name, rec in records.items() if rec[3]}

    def touched(read: Set[str]) -> bool:
        return ANY_FILE in read or not read.isdisjoint(changed)

    # candidates whose hand-offs (or their targets) may differ now, and the files to lint again
    # whatever those hand-offs turn out to be
    stale_index = {g for g in set(deps.index) | candidate if g not in deps.index or g in changed or touched(deps.index[g][0])}
    redo = {f for f, read in deps.lint.items() if touched(read)} | (changed & candidate) | missing
    for g in stale_index & set(deps.index):
        redo |= deps.index[g][1]  # the files they handed work to
    if not stale_index:
        # a file checked for the first time that holds no hand-off and receives none: no findings,
        # unless it cannot be read (no parser needed)
        reached = {f for _, targets in deps.index.values() for f in targets}
        for path in files:
            name = os.path.abspath(path)
            f = resolved_of.get(name, name)
            if f in missing and f not in candidate and f not in reached:
                try:
                    read(path, log)
                    results[name] = ([], [])
                except SourceError as err:
                    results[name] = ([], [FileError("", str(err))])
                redo.discard(f)
    index = {g: entry for g, entry in deps.index.items() if g not in stale_index}
    lint = deps.lint
    texts: Dict[str, str] = {}
    if stale_index or redo:
        from bglint.engine import Engine

        # each file of the run by its resolved path, as the entry names it
        key = {p: resolved_of.get(os.path.abspath(p)) or str(p.resolve()) for p in [*files, *context]}
        done = _lint_again(Engine(settings, use_noqa=use_noqa), files, context, stale_index, redo, candidate, key, deps, log)
        if done is None:
            return None  # an internal error: a full run reports it
        again, report, redo = done
        # a file the change may affect loses its findings (a later run that checks it lints it)
        found_again = results_of(report, again)
        if found_again is None:
            return None  # findings that cannot be told apart by file: a full run reports them
        results = {name: found for name, found in results.items() if resolved_of.get(name, name) not in redo}
        results.update(found_again)
        lint = {f: read for f, read in deps.lint.items() if f not in redo}
        lint.update(report.lint_deps)
        index.update(report.index)
        consulted |= report.consulted
        texts = report.texts
    merged = report_of(results, files)
    merged.texts.update(texts)  # the others are read by a caller that shows them
    log.started_ns = min(log.started_ns, stale.started)
    stale.cache.store(list(files) + list(context), candidate, consulted, results, log, Deps(lint, index), records)
    return merged


def _lint_again(
    engine: "Engine",
    files: Sequence[Path],
    context: Sequence[Path],
    stale_index: Set[str],
    redo: Set[str],
    candidate: Set[str],
    key: Dict[Path, str],
    deps: Deps,
    log: ReadLog,
) -> Optional[Tuple[List[Path], "Report", Set[str]]]:
    """Lint again the files of ``redo``, and those the new hand-offs of ``stale_index`` reach,
    with a task index from the candidates that can hand work to them. Returns the files of the run
    linted again (or found no longer to need it: they have no findings now), the report (its
    ``lint_deps`` and ``index`` say what was done) and every file whose findings may have changed
    (checked by this run or not); None after an internal error."""
    from bglint.engine import _Run

    ordered = [p for p in [*files, *context] if key[p] in candidate]  # the full run's candidate order
    project = engine.new_project()
    project.record()
    project.read_log = log
    project.read_elsewhere([*files, *context])  # every file, for a rule that reads them all
    first = _Run(engine, project, [p for p in ordered if key[p] in stale_index])
    first.tasks()
    for _, targets in first.index.values():  # the files they hand work to now
        redo = redo | targets
    holders: Dict[str, Set[str]] = {}
    for g, (_, into) in deps.index.items():
        for f in into:
            holders.setdefault(f, set()).add(g)
    again = [p for p in files if key[p] in redo]
    # the candidates that can hand work to a file linted again: all of them, in the full order
    holding = stale_index | {key[p] for p in again}
    for p in again:
        holding |= holders.get(key[p], set())
    # as the full run: a file that cannot be read is no candidate, and an error when it is checked
    errors: List[FileError] = []
    unreadable: Set[Path] = set()
    checking = set(again)
    for p in [*again, *(p for p in ordered if key[p] in holding and p not in checking)]:
        try:
            if key[p] in candidate:
                project.source(p)  # kept: it is parsed next
            else:
                read(p, log)  # as the full run, only candidates' texts stay in memory
        except SourceError as err:
            unreadable.add(p)
            if p in checking:
                errors.append(FileError(discovery.display(p), str(err)))
    subset = [p for p in ordered if key[p] in holding and p not in unreadable]
    mine = {key[p] for p in files}
    linted = [p for p in subset if key[p] in mine]
    others = [p for p in subset if key[p] not in mine]
    report = engine.check(again, context=[], project=project, prefiltered=(linted, others, errors))
    if any(e.internal for e in report.errors):
        return None
    return again, report, redo
