"""The flake8 plugin: the same engine and findings as ``bglint check``, one file at a time.

flake8 hands each file to :class:`Plugin` with the text it read (``lines``: from disk, or from stdin
when an editor pipes unsaved text), so that text is what is linted, never the file on disk. Findings
in one file can come from hand-offs in another (a function is a task because some other module
passes it to ``add_task``), so each file is linted inside its project: the list of the project's
other files, and when it must be analysed the engine and the project index, are built once per
process and project root, then reused for every file of that project (flake8 runs files in several
processes; each has its own). Outside a project each file is linted on its own, as ``bglint check
FILE`` does there.

Inside a project (a folder with ``pyproject.toml``, ``setup.cfg``, ``.git`` or a ``setup.py`` that
is not a package's module), the
findings of all its files are kept in bglint's cache (``.bglint_cache/``, an entry of its own beside
those of ``bglint check``): a flake8 run over a project whose files did not change since the last
one answers every file from there, without loading the parser, as long as the text flake8 hands
in is the file on disk. Otherwise the whole project is linted once per process and the entry
rewritten.

flake8 does the selection (``--select``/``--ignore``/``# noqa``); bglint only honours its own
``# bglint: ignore[...]`` and ``# bglint: skip-file`` comments. Rules that are off by default in
bglint are added to flake8's default ignore list. Nothing is ever fixed under flake8.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from bglint import __version__, sources
from bglint.config import RawConfig, Settings, build_settings, expand, find_config, known_codes, load_file, with_overrides
from bglint.model import Finding
from bglint.report import PREFILTER, candidates, project_root

if TYPE_CHECKING:  # the engine (and libcst) is loaded only when a project must be analysed
    from bglint.engine import Engine, _Run
    from bglint.project import Project

Error = Tuple[int, int, str, type]

# flake8's name for text that came from standard input (flake8.utils.is_using_stdin)
_STDIN_NAMES = ("stdin", "-")


@dataclass
class _ProjectState:
    settings: Settings
    # the project's files (the file flake8 handed in first, and the others found beside it)
    files: List[Path]
    # the findings of every file of the project (by absolute path), from the cache or one lint of
    # the whole project; dropped as soon as flake8 hands in a text that is not the file on disk
    findings: Optional[Dict[str, List[Finding]]] = None
    # the rest is built only when the project is analysed in this process (nothing is while the
    # findings come from the cache): the engine, its index, which files can hold a hand-off and
    # the analysis (its task index), kept while no file's text changes
    _engine: Optional["Engine"] = field(default=None, repr=False)
    _project: Optional["Project"] = field(default=None, repr=False)
    _candidates: Optional[List[Path]] = field(default=None, repr=False)
    run: Optional["_Run"] = None

    def __post_init__(self) -> None:
        self._paths = {os.path.abspath(f): f for f in self.files}

    @property
    def engine(self) -> "Engine":
        if self._engine is None:
            self._engine = _load_engine()(self.settings, use_noqa=False)
        return self._engine

    @property
    def project(self) -> "Project":
        if self._project is None:
            self._project = self.engine.new_project()
        return self._project

    @property
    def candidates(self) -> List[Path]:
        if self._candidates is None:
            self._candidates = candidates(self.files, self.project.source)
        return self._candidates

    def analysis(self) -> "_Run":
        if self.run is None:
            from bglint.engine import _Run

            self.run = _Run(self.engine, self.project, self.candidates)
        return self.run

    def release(self) -> None:
        """Drop the analysis once every file's findings are known: its millions of objects would
        stay alive for the rest of the flake8 process, and each of its garbage collections would
        walk them all (a first run over prefect took 2-3 s longer for that alone). A file whose
        text differs from the disk builds it again."""
        self._project = None
        self._candidates = None
        self.run = None

    def use_text(self, path: Path, text: str) -> None:
        """Lint ``path`` as ``text`` (what flake8 read), which may differ from the file on disk,
        and may be no file of the project yet (one that bglint's `exclude` or .gitignore leaves
        out, named to flake8; stdin; a file outside any project)."""
        name = os.path.abspath(path)
        if name not in self._paths:
            self.files.append(path)
            self._paths[name] = path
        else:
            try:
                # before the project is analysed here, its texts are the files on disk
                current: Optional[str] = (self._project.source(path) if self._project is not None else sources.read(path)).text
            except sources.SourceError:
                current = None
            if current == text:
                return
        self.findings = None
        self.project.set_source(path, text)
        key = path.resolve()
        self._candidates = [f for f in self.candidates if f.resolve() != key]
        if PREFILTER.search(text):
            self._candidates.append(path)
        self.run = None


_FROZEN = False  # whether this process has frozen its objects (see _load_engine)


def _load_engine() -> "type[Engine]":
    """The engine, imported when a project must be analysed in this process. Its modules and
    libcst's add some 20,000 objects (classes and functions: dicts of many references each) that
    live as long as the flake8 process, and each full collection of it walked them all (prefect in
    one process: 41 full collections took 0.56 s instead of 0.33 s). They are moved out of the
    cyclic collector's reach once, with everything else alive at that moment (``gc.freeze``),
    flake8's own long-lived state included (its full collections then take 0.12 s). Frozen
    objects are still freed when nothing refers to them; only garbage in a reference cycle among
    them stays until the process ends."""
    global _FROZEN
    from bglint.engine import Engine

    if not _FROZEN:
        import gc

        gc.freeze()
        _FROZEN = True
    return Engine


_STATES: Dict[Tuple[Optional[Path], Optional[Path]], _ProjectState] = {}


def _settings_for(path: Path) -> Settings:
    """The project's own ``[tool.bglint]`` settings, with every rule flake8 may select running."""
    return _build_settings(find_config(path), project_root(path))


def _build_settings(found: Optional[Path], root: Optional[Path]) -> Settings:
    all_codes, default_codes = known_codes()
    raw = load_file(found) if found else RawConfig()
    settings = build_settings(raw, all_codes, default_codes, root=root or Path.cwd())
    # rules that are off by default still run (flake8's default ignore list hides them unless they
    # are selected there), except those the project's own `ignore` turns off
    ignored = expand(raw.values.get("ignore", []), all_codes, "ignore")
    off_by_default = frozenset(all_codes) - frozenset(default_codes) - ignored
    return with_overrides(settings, select=settings.select | off_by_default)


_SETTINGS: Dict[Tuple[Optional[Path], Optional[Path]], Settings] = {}
# folder -> (project root, settings): flake8 hands in every file of a folder, one by one
_FOLDERS: Dict[str, Tuple[Optional[Path], Settings]] = {}


def _state_for(path: Path) -> _ProjectState:
    folder = os.path.dirname(os.path.abspath(path))
    known = _FOLDERS.get(folder)
    if known is None:
        root = project_root(path)
        found = find_config(path)
        # built once per configuration file and root: flake8 hands in a project's folders one by one
        settings = _SETTINGS.get((found, root))
        if settings is None:
            settings = _SETTINGS[(found, root)] = _build_settings(found, root)
        known = _FOLDERS[folder] = (root, settings)
    root, settings = known
    if root is None:
        # outside any project each file is linted on its own, as `bglint check FILE` does there:
        # what it finds must not depend on the files flake8 handed in before it
        return _ProjectState(settings, [])
    key = (root, settings.config_file)
    state = _STATES.get(key)
    if state is None:
        from bglint.report import context_files

        stats: Dict[str, os.stat_result] = {}
        state = _ProjectState(settings, context_files([path], settings, root, stats) + ([path] if path.exists() else []))
        with sources.collection_paused():  # until the analysis is dropped (see there)
            state.findings = _project_findings(state, stats)
            if state.findings is not None:
                state.release()
        _STATES[key] = state
    return state


def _project_findings(state: _ProjectState, stats: Dict[str, os.stat_result]) -> Optional[Dict[str, List[Finding]]]:
    """The findings of every file of the project: replayed from the cache if no file changed, else
    from one lint of the whole project (then stored). None when that cannot be trusted (a crash).
    ``stats``: what ``os.stat`` said of the files when they were found."""
    from bglint import cache as cache_mod

    files = state.files
    store = cache_mod.entry(state.settings, files, extra=["flake8"])
    found: Optional[List[Finding]] = None
    hit = store.look(files, PREFILTER, stats)
    if isinstance(hit, dict):
        try:
            found = cache_mod.report_of(cache_mod.results_from_json(hit), files).findings
        except Exception:  # a corrupt entry: lint again
            found = None
    elif hit is not None:  # some files changed: only what they affect is linted again
        from bglint.incremental import rerun

        redone = rerun(state.settings, files, [], hit, cache_mod.ReadLog(), use_noqa=False)
        found = redone.findings if redone is not None else None
    if found is None:
        log = cache_mod.ReadLog()
        state.project.read_log = log
        state.project.record()
        report = state.engine.check(files, write=False, project=state.project)
        if any(e.internal for e in report.errors):
            return None  # each file is linted on its own, and the crash reported for its file
        found = report.findings
        store.store(files, report.candidates, report.consulted, cache_mod.results_of(report, files), log, cache_mod.Deps(report.lint_deps, report.index))
    by_file: Dict[str, List[Finding]] = {os.path.abspath(f): [] for f in files}
    for finding in found:
        by_file.setdefault(os.path.abspath(finding.path), []).append(finding)
    return by_file


def lint_lines(filename: str, lines: Sequence[str]) -> Iterator[Tuple[int, int, str]]:
    """(line, 0-based column, "CODE message") of every finding in ``lines`` as the file ``filename``.

    Does what ``Engine.check`` does for one file, but keeps the project's analysis between files.
    """
    path = Path("stdin.py" if filename in _STDIN_NAMES else filename).absolute()
    state = _state_for(path)
    text = "".join(lines)
    state.use_text(path, text)
    known = state.findings.get(os.path.abspath(path)) if state.findings is not None else None
    if known is not None:
        for f in known:
            yield f.line, f.column - 1, f"{f.code} {f.message}"
        return
    from bglint.engine import InternalError

    run = state.analysis()
    if not PREFILTER.search(text) and path.resolve() not in run.tasks():
        return
    try:
        findings = run.lint(path)
    except (sources.SourceError, RecursionError):
        return  # flake8 reports a file it cannot parse itself (E999)
    except InternalError as err:
        raise RuntimeError(f"internal error in bglint on {filename}: {err}\n{err.trace}") from err
    for f in findings:
        yield f.line, f.column - 1, f"{f.code} {f.message}"


class Plugin:
    """flake8 tree plugin; registered as ``BG`` in the ``flake8.extension`` entry points."""

    name = "bglint"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: Sequence[str]) -> None:
        # `tree` is flake8's ast; bglint parses with libcst itself, asking for it makes this a
        # once-per-file plugin
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        # flake8's main process calls this before it starts its workers: nothing heavy is imported
        all_codes, default_codes = known_codes()
        option_manager.extend_default_ignore([code for code in all_codes if code not in default_codes])

    @classmethod
    def parse_options(cls, options: Any) -> None:
        """Nothing to read: bglint's settings come from the project's ``[tool.bglint]``."""

    def run(self) -> Iterator[Error]:
        for line, col, text in lint_lines(self.filename, self.lines):
            yield line, col, text, type(self)
