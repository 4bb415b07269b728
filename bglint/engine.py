"""The engine: files -> prefilter -> parse -> facts -> hand-offs (+ targets) -> rules -> findings.

:class:`Engine` runs over a set of files with one project index; :func:`lint_source` lints one
text (tests, editors). Fixing re-lints a file after each round of edits until nothing changes.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from bglint import discovery, fixes, sharing, sources, suppress
from bglint.config import Settings
from bglint.context import RuleContext
from bglint.data import tables_for
from bglint.facts import ModuleFacts
from bglint.handoffs import HandoffFinder, TaskTarget
from bglint.model import Finding, Rule
from bglint.project import Project
from bglint.report import PREFILTER, FileError, FileFix, Report, candidates, context_files, project_root  # noqa: F401 (re-exported)
from bglint.semantics import Semantics

MAX_FIX_ROUNDS = 10


class _Run:
    """One analysis over a project: shared facts, hand-offs and the task index."""

    def __init__(self, engine: "Engine", project: Project, candidates: Sequence[Path]) -> None:
        self.engine = engine
        self.project = project
        self.candidates = list(candidates)
        self.semantics = Semantics(project)
        self.handoffs = HandoffFinder(project, self.semantics)
        self._tasks: Optional[Dict[Path, List[TaskTarget]]] = None
        # candidate -> (the files its hand-offs and their targets were found from, the files of
        # the targets), when the project records dependencies
        self.index: Dict[str, Tuple[Set[str], Set[str]]] = {}

    def tasks(self) -> Dict[Path, List[TaskTarget]]:
        """Functions that run as tasks, by file, from every hand-off in the candidate files."""
        if self._tasks is None:
            by_fn: Dict[int, TaskTarget] = {}
            out: Dict[Path, List[TaskTarget]] = {}
            for path in self.candidates:
                self.project.begin()
                targets: Set[str] = set()
                try:
                    module = self.project.try_facts(path)
                    for site in self.handoffs.sites(module) if module is not None else ():
                        target = self.handoffs.target(site)
                        if target is None:
                            continue
                        targets.add(target.module.path)  # a resolved path
                        key = id(target.function)
                        if key in by_fn:
                            by_fn[key].sites.append(site)
                            continue
                        merged = TaskTarget(target.module, target.function, target.is_async, target.bound, target.partial_args, [site])
                        by_fn[key] = merged
                        out.setdefault(Path(target.module.path), []).append(merged)
                finally:
                    if self.project.recording:
                        self.index[str(self.project.real(path))] = (self.project.end(), targets)
            self._tasks = out
        return self._tasks

    def lint(self, path: Path) -> List[Finding]:
        module = self.project.facts(path)
        tasks = self.tasks().get(self.project.real(path), [])
        ctx = RuleContext(
            module=module,
            project=self.project,
            settings=self.engine.settings,
            semantics=self.semantics,
            handoffs=self.handoffs,
            tables=self.engine.tables,
            display_path=discovery.display(path),
            tasks=tasks,
        )
        found: Dict[Tuple[str, int, int], Finding] = {}
        for finding in self.engine.run_rules(module, ctx):
            found.setdefault((finding.code, finding.line, finding.column), finding)
        ignored = self.engine.settings.ignored_for(str(path))
        kept = [f for f in found.values() if f.code not in ignored]
        return sorted(suppress.filter_findings(kept, module.source, self.engine.use_noqa), key=Finding.sort_key)


# a file's findings, its text if there are any, the error that stopped it, the files it read
_Outcome = Tuple[List[Finding], Optional[str], Optional[FileError], Optional[Set[str]]]


def _add(report: Report, real: Path, outcome: _Outcome) -> None:
    found, text, error, deps = outcome
    if found:
        report.findings.extend(found)
        report.texts[found[0].path] = text  # type: ignore[assignment]
    if error is not None:
        report.errors.append(error)
    if deps is not None:
        report.lint_deps[str(real)] = deps


class InternalError(Exception):
    def __init__(self, rule: Rule, error: BaseException) -> None:
        super().__init__(f"{rule.code}: {type(error).__name__}: {error}")
        self.rule = rule
        self.error = error
        self.trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))


class Engine:
    def __init__(self, settings: Settings, rules: Optional[Sequence[Rule]] = None, use_noqa: bool = True) -> None:
        from bglint.rules import ALL_RULES

        self.settings = settings
        self.rules = [r for r in (rules if rules is not None else ALL_RULES) if r.code in settings.select]
        self.tables = tables_for(settings)
        self.use_noqa = use_noqa

    def run_rules(self, module: ModuleFacts, ctx: RuleContext) -> Iterator[Finding]:
        for rule in self.rules:
            try:
                for check in rule.module_checks:
                    yield from check(module, ctx)
                for site in ctx.sites:
                    for check in rule.site_checks:
                        yield from check(site, ctx)
                for task in ctx.tasks:
                    for check in rule.task_checks:
                        yield from check(task, ctx)
            except (KeyboardInterrupt, SystemExit, MemoryError):
                raise
            except Exception as err:
                raise InternalError(rule, err) from err

    # -- projects ----------------------------------------------------------------------------
    def new_project(self) -> Project:
        roots = list(self.settings.src)
        if self.settings.root is not None:
            roots.append(self.settings.root)
        return Project(extra_roots=roots, eager=PREFILTER)

    def context_files(self, files: Sequence[Path]) -> List[Path]:
        """Other files of the project: their hand-offs can make a function in ``files`` a task."""
        return context_files(files, self.settings)

    # -- running -------------------------------------------------------------------------------
    def check(
        self,
        files: Sequence[Path],
        *,
        fix: bool = False,
        unsafe: bool = False,
        write: bool = True,
        context: Sequence[Path] = (),
        project: Optional[Project] = None,
        prefiltered: Optional[Tuple[List[Path], List[Path], List[FileError]]] = None,
    ) -> Report:
        """Lint ``files``; ``context`` files only contribute hand-offs (their findings are not reported).
        ``prefiltered``: the caller has read them already: the ``files`` and ``context`` files that
        can hold a hand-off, and the files it could not read."""
        with sources.collection_paused():
            return sources.call_with_deep_stack(lambda: self._check(files, fix, unsafe, write, context, project, prefiltered))

    def _check(
        self,
        files: Sequence[Path],
        fix: bool,
        unsafe: bool,
        write: bool,
        context: Sequence[Path],
        project: Optional[Project],
        prefiltered: Optional[Tuple[List[Path], List[Path], List[FileError]]],
    ) -> Report:
        report = Report()
        project = project or self.new_project()
        if prefiltered is not None:
            linted, others, errors = prefiltered
            report.errors.extend(errors)
        else:
            linted = candidates(files, project.source, report.errors)
            others = candidates(context, project.source)
        run = _Run(self, project, linted + others)
        wanted = {project.real(p) for p in linted} | set(run.tasks())
        # `p.resolve() in wanted`, resolving (a stat per component) only the files that can be
        # there: with the name of one of them, or a symlink (the only way to another name)
        names = {p.name for p in wanted}
        todo = [(path, real) for path, real in ((p, project.real(p)) for p in files if p.name in names or os.path.islink(p)) if real in wanted]
        consulted: List[Path] = []  # parsed by another process
        for i, (path, real) in enumerate(todo):
            # the rest shared with a forked process: all of it, a core being idle from the start
            # (one project), or from the file where a pool's other worker went idle
            if not fix and len(todo) - i > 1 and (project.share_lint or sharing.core_idle()):
                consulted = self._lint_shared(run, todo[i:], report)
                break
            run, outcome = self._outcome(run, path, fix, unsafe, write, report)
            _add(report, real, outcome)
        report.index = run.index
        report.files_checked = len(files) - len({e.path for e in report.errors})
        report.candidates = {str(project.real(p)) for p in linted + others}
        report.consulted = {str(p) for p in [*project.parsed, *consulted]}
        report.findings.sort(key=Finding.sort_key)
        report.errors.sort(key=lambda e: e.path)  # by file, as a cached run lists them
        return report

    def _outcome(self, run: _Run, path: Path, fix: bool, unsafe: bool, write: bool, report: Report) -> Tuple[_Run, _Outcome]:
        """Lint ``path`` (fixed first, with ``fix``: the run goes on with the fixed text): its
        findings, its text if there are any, the error that stopped it, and the files it read
        (when the project records them)."""
        project = run.project
        project.begin()
        found: List[Finding] = []
        text: Optional[str] = None
        error: Optional[FileError] = None
        try:
            if fix:
                run = self._fix_file(run, path, unsafe, write, report)
            found = run.lint(path)
            if found:
                text = run.project.source(path).text
        except sources.SourceError as err:
            error = FileError(discovery.display(path), str(err))
        except InternalError as err:
            error = FileError(discovery.display(path), f"internal error in bglint: {err}", internal=True)
        except RecursionError:
            error = FileError(discovery.display(path), "too deeply nested to analyse")
        finally:
            deps = project.end() if project.recording else None
        return run, (found, text, error, deps)

    def _lint_shared(self, run: _Run, todo: List[Tuple[Path, Path]], report: Report) -> List[Path]:
        """Lint ``todo`` in this process and a forked one (a core is idle: see bglint.sharing),
        with the outcome of linting them all here; returns the files the other process parsed
        (they count as consulted). The files it read are logged here."""
        project = run.project
        if project.planner is not None:  # done: every candidate was asked for; its core is free
            project.planner.close()
        log = project.read_log

        def finish() -> Tuple[List[Path], Optional[Dict[str, Tuple[int, int, str]]]]:
            return list(project.parsed), getattr(log, "files", None)

        outcomes, there = sharing.share(todo, lambda item: self._outcome(run, item[0], False, False, False, report)[1], finish)
        for (_, real), outcome in zip(todo, outcomes):
            _add(report, real, outcome)
        if there is None:  # it died: what it did not do was done here
            return []
        parsed, logged = there
        if logged and log is not None:
            for name, entry in logged.items():
                log.files.setdefault(name, entry)  # type: ignore[attr-defined]
        return parsed

    def _fix_file(self, run: _Run, path: Path, unsafe: bool, write: bool, report: Report) -> _Run:
        project = run.project
        source = project.source(path)
        original = text = source.text
        applied: List[Finding] = []
        dropped: List[Tuple[Finding, str]] = []
        for _ in range(MAX_FIX_ROUNDS):
            result = fixes.apply(text, run.lint(path), unsafe)
            dropped.extend(result.dropped)
            if not result.applied:
                break
            applied.extend(result.applied)
            text = result.text
            project.set_source(path, text, source)
            run = _Run(self, project, run.candidates)
        if text != original:
            if write:
                try:
                    sources.write_atomic(path, source.encode(text))
                except (OSError, UnicodeEncodeError) as err:
                    # the file keeps its old content (the write is atomic): report it and lint what is on disk
                    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
                    report.errors.append(FileError(discovery.display(path), f"cannot write the fixes: {reason}"))
                    project.set_source(path, original, source)
                    return _Run(self, project, run.candidates)
            report.fixes.append(FileFix(discovery.display(path), original, text, applied, dropped))
        elif dropped:
            report.fixes.append(FileFix(discovery.display(path), original, text, [], dropped))
        return run


def lint_source(text: str, path: str, settings: Settings, context: Sequence[Path] = ()) -> List[Finding]:
    """Lint ``text`` as if it were the file ``path`` (which need not exist)."""
    engine = Engine(settings)
    project = engine.new_project()
    project.set_source(Path(path), text)
    report = engine.check([Path(path)], context=context, project=project)
    if report.errors:
        raise sources.SourceError(report.errors[0].message)
    return report.findings
