"""What ``bglint check`` does between its command line and its exit status, without click.

:mod:`bglint.cli` reads the options and calls :func:`check`; :mod:`bglint.entry` calls it
directly for the command line pre-commit gives, ``bglint check FILE...``, so that a run the cache
answers does not import click (a fifth of such a run; see bglint.entry).

Exit codes: 0 nothing found, 1 findings (or, with ``--diff``, changes to make), 2 bglint itself
failed: bad usage or config, a file that could not be checked, an internal error.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from bglint import discovery
from bglint.config import ConfigError, RawConfig, Settings, build_settings, find_config, known_codes, load_file

if TYPE_CHECKING:  # pragma: no cover
    from bglint.cache import Cache, Stale
    from bglint.engine import Report
    from bglint.planner import Planner

EXIT_CLEAN, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2


def say(message: str) -> None:
    """A line on standard error (the stream in place now: a test runner may have swapped it)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def failure(message: str) -> int:
    """bglint's own failure (bad usage or config) said on standard error; its exit status."""
    say(f"bglint: error: {message}")
    return EXIT_FAILED


def _codes(values: Sequence[str]) -> Optional[List[str]]:
    """``--select BG1,BG201 --select BG3`` -> ["BG1", "BG201", "BG3"]; None when not given."""
    if not values:
        return None
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def load_settings(
    paths: Sequence[str],
    config: Optional[str],
    select: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> Settings:
    all_codes, default_codes = known_codes()
    if config:
        raw = load_file(Path(config))
    else:
        found = find_config(Path(paths[0]) if paths else Path.cwd())
        raw = load_file(found) if found else RawConfig()
    return build_settings(
        raw,
        all_codes,
        default_codes,
        cli_select=_codes(select),
        cli_extend_select=_codes(extend_select) or (),
        cli_ignore=_codes(ignore) or (),
        root=Path.cwd(),
    )


def check(
    paths: Sequence[str] = (),
    select: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    output_format: str = "full",
    output_file: Optional[str] = None,
    exit_zero: bool = False,
    statistics: bool = False,
    config: Optional[str] = None,
    fix: bool = False,
    unsafe_fixes: bool = False,
    diff: bool = False,
    show_fixes: bool = False,
    no_cache: bool = False,
    jobs: int = 0,
) -> int:
    """``bglint check`` with these options (the defaults are the command line's): its report on
    standard output (or ``output_file``), messages on standard error, and its exit status."""
    from bglint.reporters import Output, renderer

    paths = paths or (".",)
    try:
        settings = load_settings(paths, config, select, extend_select, ignore)
    except ConfigError as err:
        return failure(str(err))

    # opened before anything is checked or fixed, so an unwritable report path fails first
    try:
        stream = open(output_file, "w", encoding="utf-8") if output_file else None
    except OSError as err:
        return failure(f"cannot write {output_file}: {err.strerror or err}")

    pool = _early_pool(paths, jobs, settings, fix or diff or no_cache)
    try:
        found = discovery.discover(paths, settings.exclude, settings.root, settings.respect_gitignore)
        for raw, reason in found.errors:
            say(f"{raw}: error: {reason}")

        report = _run(settings, found.files, fix, diff, unsafe_fixes, no_cache, jobs, pool)

        for err in report.errors:
            say(f"{err.path}: error: {err.message}")

        if diff:
            for ff in report.fixes:
                if ff.original != ff.fixed:
                    (stream or sys.stdout).write(_unified_diff(ff.path, ff.original, ff.fixed))
            changed = any(ff.original != ff.fixed for ff in report.fixes)
            failed = bool(report.errors or found.errors)
            return EXIT_FAILED if failed and not changed else (EXIT_FINDINGS if changed else EXIT_CLEAN)

        if fix or show_fixes:
            for ff in report.fixes:
                for finding, why in ff.dropped:
                    say(f"{ff.path}:{finding.line}:{finding.column}: warning: fix for {finding.code} not applied: {why}")
            applied = sum(len(ff.applied) for ff in report.fixes)
            if show_fixes:
                for ff in report.fixes:
                    for finding in ff.applied:
                        what = finding.fix.description if finding.fix else ""
                        say(f"fixed {ff.path}:{finding.line}:{finding.column}: {finding.code} {what}")
            if applied:
                say(f"Fixed {applied} finding{'s' if applied != 1 else ''} in {len([f for f in report.fixes if f.applied])} file(s).")

        if statistics:
            text = _statistics(report.findings)
        else:
            color = stream is None and sys.stdout.isatty() and output_format == "full"
            out = Output(report.findings, report.texts, [(e.path, e.message) for e in report.errors], color=color)
            text = renderer(output_format)(out)
        (stream or sys.stdout).write(text)
    finally:
        if pool is not None:
            pool[0].shutdown()  # (done, or never used: its workers only loaded the engine)
            from bglint import sharing

            sharing.unwatch_pool()
        if stream is not None:
            stream.close()

    return exit_code(report, bool(found.errors), exit_zero)


def _early_pool(paths: Sequence[str], jobs: int, settings: Settings, uncached: bool) -> Optional[Tuple[Any, int]]:
    """A pool of worker processes started before the files are listed, when the run will most
    likely check several projects in it: more than one core, the command line names folders of
    different projects, and the cache cannot answer (``uncached``: no cache, --fix or --diff; or
    no cache folder yet). Its workers load the engine (libcst: 0.1 s) while this process lists
    and groups the files (0.17 s on the benchmark's ten projects). Returns it with its number of
    workers; None otherwise."""
    cores = jobs or os.cpu_count() or 1
    folders = [Path(p) for p in paths if os.path.isdir(p)]
    if cores < 2 or len(folders) < 2:
        return None
    from bglint.report import project_root

    memo: Dict[Path, Optional[Path]] = {}
    projects = {project_root(folder, memo) or folder.resolve() for folder in folders}
    if len(projects) < 2:
        return None
    if not uncached:
        from bglint import cache

        if cache.folder(settings, Path.cwd()).exists():
            return None  # a warm run may need no worker
    workers = min(cores, len(projects))
    try:
        pool = _new_pool(workers)
        for _ in range(workers):
            pool.submit(_load_engine)
    except (OSError, ValueError):  # no processes here: the run makes its own pool, or none
        return None
    return pool, workers


def _new_pool(workers: int) -> Any:
    """A process pool whose workers this process can tell that a core is idle (see
    :func:`_in_processes`)."""
    import concurrent.futures as cf

    from bglint import sharing

    sharing.watch_pool()  # before its workers are forked
    return cf.ProcessPoolExecutor(max_workers=workers)


def _load_engine() -> None:
    """A worker's first task: load what checking a project needs (libcst, with the engine)."""
    import importlib

    for name in ("bglint.engine", "bglint.rules"):
        importlib.import_module(name)


def _run(
    settings: Settings, files: List[Path], fix: bool, diff: bool, unsafe: bool, no_cache: bool, jobs: int, pool: Optional[Tuple[Any, int]] = None
) -> "Report":
    """Check ``files``, one project at a time (see :func:`_projects`), in ``jobs`` processes when
    there are several projects (0: one per core); ``pool``: processes started already (see
    :func:`_early_pool`), used if there are as many projects left to check as it has workers."""
    from bglint.report import Report

    groups = _projects(files)
    args = [(settings, group, fix, diff, unsafe, no_cache, root) for root, group in groups]
    cores = jobs or os.cpu_count() or 1
    workers = min(len(groups), cores)
    if workers <= 1:
        # one project: a core is idle
        reports = [_run_project(*a, idle_core=cores > 1, last=i == len(args) - 1 and _ends_process()) for i, a in enumerate(args)]
    else:
        # what the cache answers is replayed here; only the projects left need the processes, the
        # biggest first (so that the longest one does not start last); reports stay in project order
        found: List[Optional[Report]] = [None] * len(args)
        pending: Dict[int, tuple] = {}
        for i, a in enumerate(args):
            if fix or diff or no_cache:
                pending[i] = a
                continue
            found[i], context, store, stale = _replay(settings, a[1], a[6])
            if found[i] is None:
                pending[i] = a + ((context, store, stale),)
        left = sorted(pending, key=lambda i: -len(args[i][1]))
        todo = [pending[i] for i in left]
        workers = min(len(todo), workers)
        # one project left: it runs here, with the core the pool would have used idle
        started = pool[0] if pool is not None and pool[1] == workers else None  # (else the run makes its own)
        done = [_run_project(*a, idle_core=True, last=_ends_process()) for a in todo] if workers <= 1 else _in_processes(todo, workers, started)
        for i, report in zip(left, done):
            found[i] = report
        reports = [r for r in found if r is not None]
    if len(reports) == 1:
        return reports[0]
    merged = Report()
    for r in reports:
        merged.findings.extend(r.findings)
        merged.errors.extend(r.errors)
        merged.fixes.extend(r.fixes)
        merged.texts.update(r.texts)
        merged.files_checked += r.files_checked
    merged.findings.sort(key=lambda f: f.sort_key())
    return merged


def _projects(files: Sequence[Path]) -> List[Tuple[Optional[Path], List[Path]]]:
    """``files`` by project: the folder holding the nearest pyproject.toml, setup.cfg, .git or
    setup.py (outside a package: see report.project_root_at), else the folder above the file's
    top package (see report.package_root_at). Each project is analysed on its own (its own index
    and task list), whether the run uses one process or several. Returns each project's root (the
    folder with the marker; None outside one) and its files."""
    from bglint.report import package_root, package_root_at, project_root, project_root_at, real_folder

    memo: Dict[Path, Optional[Path]] = {}
    by_key: Dict[Path, Tuple[Optional[Path], List[Path]]] = {}
    folders: Dict[str, Tuple[Path, Optional[Path]]] = {}
    real: Dict[str, str] = {}
    packages: Dict[Path, Optional[Path]] = {}
    for path in files:
        folder = os.path.dirname(os.path.abspath(path))  # looked at once per folder, below
        known = folders.get(folder)
        if known is None:
            if ".." in Path(path).parts or os.path.islink(path):
                # resolved as the path says (a symlink to a file elsewhere, `..` after a symlink)
                root = project_root(path, memo)
                known = (root or package_root(path), root)
            else:
                resolved = Path(real_folder(folder, real))
                root = project_root_at(resolved, memo)
                known = (root or package_root_at(resolved, packages), root)
            folders[folder] = known
        key, root = known
        group = by_key.get(key)
        if group is None:
            group = by_key[key] = (root, [])
        group[1].append(path)
    return list(by_key.values()) or [(None, [])]


def _in_processes(args: list, workers: int, started: Optional[Any] = None) -> List["Report"]:
    import concurrent.futures as cf

    from bglint import sharing
    from bglint.report import FileError, Report

    reports: List[Report] = []
    try:
        with started or _new_pool(workers) as pool:
            futures = [pool.submit(_run_project_and_release, *a) for a in args]
            busy = set(futures)
            while len(busy) > workers // 2:  # (a project is handed out as a worker takes it)
                busy = cf.wait(busy, return_when=cf.FIRST_COMPLETED).not_done
            if busy:
                sharing.pool_half_idle()  # the busy workers may each share the rest with a forked process
                try:
                    for _ in range(workers - len(busy)):
                        pool.submit(_release, True)  # for an idle worker: the memory its last project held
                except (cf.process.BrokenProcessPool, RuntimeError):
                    pass  # a worker died meanwhile: its projects are reported below
            for future, a in zip(futures, args):
                try:
                    reports.append(future.result())
                except cf.process.BrokenProcessPool:
                    # the process died (a crash in native code): say which files went unchecked
                    lost = Report()
                    lost.errors = [FileError(discovery.display(p), "internal error in bglint: the process checking this file died", internal=True) for p in a[1]]
                    reports.append(lost)
    finally:
        sharing.unwatch_pool()
    return reports


def _run_project_and_release(*args: Any) -> "Report":
    """:func:`_run_project` in a worker process. Its analysis is freed, and the memory handed
    back to the system, when the worker takes another project (the other worker may need the
    memory meanwhile), else never: a pool's process ends with ``os._exit`` (forked, or started by
    a fork server), so the worker's report goes back without waiting for that."""
    _release()
    return _run_project(*args, last=True)


def _release(idle: bool = False) -> None:
    """In a worker: free the analysis its last project left (see :func:`_leave`). ``idle``: the
    worker has no project left to check, while another still works: the caches that outlive a
    project (ABCs' subclass caches, lru caches, compiled regexes, the type cache) are emptied as
    well. Their few thousand small objects, made while projects were checked, keep partly used
    memory arenas from going back to the system (after LARGE's nine smaller projects: 39 -> 28 MiB
    of proportional set size)."""
    import gc

    from bglint import sources

    if not _LEFT and not idle:
        return
    gc.unfreeze()
    _LEFT.clear()
    if idle:
        import abc
        import functools
        import re

        lru = type(functools.lru_cache()(_release))
        for held in gc.get_objects():
            if isinstance(held, abc.ABCMeta):
                held._abc_caches_clear()
            elif isinstance(held, lru):
                held.cache_clear()
        re.purge()
        sys._clear_type_cache()
        gc.collect()
    sources.release_freed_memory()


# The analysis of the last project a process checks, kept until the process ends: the process
# leaves with os._exit, so it is never freed (freeing it, object by object, took 0.03 s on
# open-webui and 0.07 s on litellm, right before the report).
_LEFT: List[Any] = []


def _leave(*analysis: Any) -> None:
    """Keep ``analysis`` alive until the process ends; the collector never scans it (frozen:
    made while it was off, all of it is in the youngest generation, which it scans most often)."""
    import gc

    _LEFT.append(analysis)
    gc.freeze()


def _ends_process() -> bool:
    """Whether the process ends when this run is done (``bglint.entry.run``, not a test's run)."""
    from bglint import entry

    return entry.EXITING


def _replay(settings: Settings, files: List[Path], root: Optional[Path]) -> Tuple[Optional["Report"], List[str], "Cache", Optional["Stale"]]:
    """The cached report of one project's ``files`` if nothing they depend on changed (else None),
    the project's other files (as :func:`report.context_names` lists them), the cache entry to
    store a new report in, and what changed when only some files' content did."""
    from bglint import cache as cache_mod
    from bglint.report import PREFILTER, context_names

    stats: Dict[str, os.stat_result] = {}
    context = context_names(files, settings, root, stats) if files else []
    store = cache_mod.entry(settings, files, root=root)
    found = store.look([*files, *context], PREFILTER, stats, checked=files)
    if isinstance(found, dict):
        return _report_from_cache(found, files), context, store, None
    return None, context, store, found


def _run_project(
    settings: Settings,
    files: List[Path],
    fix: bool,
    diff: bool,
    unsafe: bool,
    no_cache: bool,
    root: Optional[Path],
    missed: Optional[Tuple[List[str], "Cache", Optional["Stale"]]] = None,
    *,
    idle_core: bool = False,
    last: bool = False,
) -> "Report":
    """Check one project's ``files`` (``root``: the project's folder, None outside one): from the
    cache when nothing they depend on changed, without the parser when none of the project's files
    can hold a hand-off, else with the engine. ``missed``: the caller found no cached report; the
    project's other files, the cache entry it looked in, and what changed since the entry (if only
    some files' content did: then only what they can affect is analysed again). ``idle_core``: a
    core no other process of the run uses (see bglint.planner). ``last``: the process ends after
    this project (its analysis is left alive: see :func:`_leave`)."""
    from bglint.report import context_names

    store: Optional[Cache] = None
    stale: Optional[Stale] = None
    if missed is not None:
        names, store, stale = missed
    elif fix or diff or no_cache:
        names = context_names(files, settings, root) if files else []
    else:
        replayed, names, store, stale = _replay(settings, files, root)
        if replayed is not None:
            return replayed
    from bglint import sources  # not before: a replayed run reads no file

    # the collector stays off until the analysis's objects are gone, its cache entry written
    with sources.collection_paused():
        return _analyse(settings, files, fix, diff, unsafe, names, store, stale, idle_core, last)


def _analyse(
    settings: Settings,
    files: List[Path],
    fix: bool,
    diff: bool,
    unsafe: bool,
    names: List[str],
    store: Optional["Cache"],
    stale: Optional["Stale"],
    idle_core: bool,
    last: bool = False,
) -> "Report":
    """:func:`_run_project` past the cache: again only what changed (``stale``), else the whole
    project, with ``names`` its other files; the report is stored in ``store`` (if any)."""
    from bglint import sources
    from bglint.report import Report, candidates

    context = [Path(name) for name in names]
    if stale is not None:
        from bglint.cache import ReadLog
        from bglint.incremental import rerun

        redone = rerun(settings, files, context, stale, ReadLog())
        if redone is not None and _with_texts(redone):
            return redone
    # every file is read once here; the engine's project starts from these texts
    read: Dict[Path, sources.Source] = {}
    log = None  # the files as read, for the cache entry
    if store is not None:
        from bglint.cache import ReadLog

        log = ReadLog()

    def read_once(path: Path) -> sources.Source:
        if path not in read:
            read[path] = sources.read(path, log)
        return read[path]

    errors: list = []
    linted = candidates(files, read_once, errors)
    others = candidates(context, read_once)
    if linted or others:
        kept = set(linted + others)
        ahead: Optional["Planner"] = None
        if idle_core:
            from bglint import planner
            from bglint.report import PREFILTER

            # the candidates' plans, in the order the hand-off search asks for them, then those of
            # the files they import; forked before libcst is imported here (planning needs only
            # `ast`), so it plans meanwhile
            rest = [(path, src.text) for path, src in read.items() if path not in kept]
            ahead = planner.start([read[p].text for p in linted + others], PREFILTER, linted + others, rest)
        try:
            from bglint.engine import Engine

            engine = Engine(settings)
            project = engine.new_project()
            assert ahead is None or project.eager is PREFILTER, "the planner plans with the project's prefilter"
            project.read_log = log
            if store is not None:
                project.record()  # what each file's findings depend on: the next run redoes only those
            # only the texts that can hold a hand-off stay in memory (and the planner's, until the
            # search is done); another is read again if a rule looks into it (a task's module)
            for path in kept:
                project.set_source(path, read[path].text, read[path])
            project.read_elsewhere([path for path in read if path not in kept])
            project.planner = ahead
            project.share_lint = ahead is not None  # a project worth planning ahead
            read.clear()
            report = engine.check(
                files, fix=fix or diff, unsafe=unsafe, write=fix and not diff, context=context, project=project, prefiltered=(linted, others, errors)
            )
            if last:
                _leave(engine, project)
        finally:
            if ahead is not None:
                ahead.close()
    else:  # nothing can hold a hand-off: no parser needed
        errors.sort(key=lambda e: e.path)  # by file, as the engine and a cached run list them
        report = Report(errors=errors, files_checked=len(files) - len({e.path for e in errors}))
    if store is not None and not any(e.internal for e in report.errors):
        from bglint.cache import Deps, results_of

        # the other files as the listing named them: a Path of each would be made a string again
        store.store([*files, *names], report.candidates, report.consulted, results_of(report, files), log, Deps(report.lint_deps, report.index))
    return report


def _report_from_cache(data: dict, files: Sequence[Path]) -> Optional["Report"]:
    """The report of ``files`` from the cache entry ``data``; None if it is corrupt, or a file
    with findings is gone since."""
    from bglint.cache import report_of, results_from_json

    try:
        report = report_of(results_from_json(data), files)
    except Exception:
        return None
    return report if _with_texts(report) else None


def _with_texts(report: "Report") -> bool:
    """Read the text of each file ``report`` has findings in that it lacks (the reporters quote
    them); False if one cannot be read any more."""
    missing = dict.fromkeys(f.path for f in report.findings if f.path not in report.texts)
    if not missing:
        return True
    from bglint import sources

    try:
        for path in missing:
            report.texts[path] = sources.read(path).text
    except sources.SourceError:
        return False
    return True


def exit_code(report: "Report", path_errors: bool, exit_zero: bool) -> int:
    """An internal error always fails; findings win over files that could not be checked."""
    if any(e.internal for e in report.errors):
        return EXIT_FAILED
    if report.findings:
        return EXIT_CLEAN if exit_zero else EXIT_FINDINGS
    return EXIT_FAILED if (report.errors or path_errors) else EXIT_CLEAN


def _unified_diff(path: str, old: str, new: str) -> str:
    import difflib  # only --diff needs it

    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}")
    text = "".join(lines)
    return text if text.endswith("\n") or not text else text + "\n"


def _statistics(findings: Sequence) -> str:
    from bglint.rules import BY_CODE

    counts = Counter(f.code for f in findings)
    fixable = Counter(f.code for f in findings if f.fix is not None)
    rows = []
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = "[*]" if fixable[code] else "   "
        rows.append(f"{n:>5}  {code}  {mark} {BY_CODE[code].name}")
    if rows:
        rows.append(f"Found {sum(counts.values())} finding{'s' if sum(counts.values()) != 1 else ''}.")
    return "\n".join(rows) + ("\n" if rows else "")
