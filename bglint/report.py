"""What a run found, and the byte prefilter: the parts of a run that need no parser.

Kept apart from :mod:`bglint.engine` (which imports libcst, a third of a second) so that a run
whose files cannot hold a hand-off, or whose result is in the cache, never loads the parser.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from bglint import discovery

if TYPE_CHECKING:  # pragma: no cover
    from bglint import sources
    from bglint.config import Settings
    from bglint.model import Finding

# A file can only hold a hand-off (or a rule's other subject) if it contains one of these. RQ's and
# arq's hand-offs are calls of a method so named (handoffs.HandoffFinder._site): `queue.enqueue(`,
# `.enqueue_call(`, `.enqueue_job(`, spaces and line breaks allowed around the dot, and not every
# name with the word in it (`self._enqueue_event(...)`, `def enqueue(...)`: 50 of the 492
# candidates of the benchmark's big corpus held nothing else).
_PATTERN = (
    r"add_task|BackgroundTask|\bbackground\s*=(?!=)|create_task|ensure_future|\.delay\(|apply_async"
    r"|\.\s*enqueue(?:_call|_job)?\s*\(|\.send(?:_with_options)?\(|\.on_event\s*\(|add_event_handler"
)
# The pattern's alternatives, for substring searches (many times faster than the alternation):
# those that are plain text, and the others by a word every match holds, and where the match
# starts: at the word, or (a dot first) at the dot before the blanks before it. A regex is tried
# only where the word is: searched for, `\bbackground` (no prefix for the regex engine to look
# for) took 0.3 s over the benchmark's corpus, most of its prefilter.
_LITERALS = ("add_task", "BackgroundTask", "create_task", "ensure_future", ".delay(", "apply_async", "add_event_handler")
_GUARDED = (
    ("background", r"\bbackground\s*=(?!=)", False),
    ("enqueue", r"\.\s*enqueue(?:_call|_job)?\s*\(", True),
    (".send", r"\.send(?:_with_options)?\(", False),
    (".on_event", r"\.on_event\s*\(", False),
)


class _Prefilter:
    """``PREFILTER.search(text)``: a match of the pattern (some match, not always the first one),
    found by substring searches first. The regexes are compiled when first used (a run that the
    cache answers uses none)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    @functools.cached_property
    def regex(self) -> "re.Pattern[str]":
        return re.compile(self.pattern)

    @functools.cached_property
    def _literals(self) -> "List[Tuple[str, re.Pattern[str]]]":
        return [(word, re.compile(re.escape(word))) for word in _LITERALS]

    @functools.cached_property
    def _guarded(self) -> "List[Tuple[str, re.Pattern[str], bool]]":
        return [(word, re.compile(regex), dot_first) for word, regex, dot_first in _GUARDED]

    def search(self, text: str, *args: int) -> "Optional[re.Match[str]]":
        if args:
            return self.regex.search(text, *args)
        for word, regex in self._literals:
            if word in text:
                return regex.search(text)
        for word, regex, dot_first in self._guarded:
            at = text.find(word)
            while at >= 0:
                start = at
                if dot_first:
                    while start > 0 and text[start - 1].isspace():  # what the regex's \s matches
                        start -= 1
                    start -= 1
                found = regex.match(text, start) if start >= 0 else None
                if found is not None:
                    return found
                at = text.find(word, at + 1)
        return None

    def finditer(self, text: str) -> "Iterator[re.Match[str]]":
        return self.regex.finditer(text)

    def within(self, text: str) -> "_Prefilter":
        """The same search for the parts of ``text``: only the words ``text`` holds are looked
        for (planning.plan searches each statement of a module, and most modules hold one or two)."""
        narrowed = _Prefilter(self.pattern)
        # what the cached properties would compute, narrowed: the same compiled regexes
        narrowed.regex = self.regex
        narrowed._literals = [(word, regex) for word, regex in self._literals if word in text]
        narrowed._guarded = [guard for guard in self._guarded if guard[0] in text]
        return narrowed


PREFILTER = _Prefilter(_PATTERN)


@dataclass(frozen=True)
class FileError:
    path: str
    message: str
    internal: bool = False  # a bug in bglint rather than a problem with the file


@dataclass
class FileFix:
    path: str
    original: str
    fixed: str
    applied: List[Finding]
    dropped: List[Tuple[Finding, str]]


@dataclass
class Report:
    findings: List[Finding] = field(default_factory=list)
    errors: List[FileError] = field(default_factory=list)
    fixes: List[FileFix] = field(default_factory=list)
    files_checked: int = 0
    # display path -> text of each file with findings (reporters show source excerpts from it)
    texts: Dict[str, str] = field(default_factory=dict)
    # resolved paths of the files the analysis read as possible hand-off holders, and of those it
    # parsed (the cache's dependencies)
    candidates: Set[str] = field(default_factory=set)
    consulted: Set[str] = field(default_factory=set)
    # when the project recorded dependencies (see bglint.project.Project.record): each linted
    # file's own (resolved path -> files), and each candidate's hand-off index (see bglint.engine._Run)
    lint_deps: Dict[str, Set[str]] = field(default_factory=dict)
    index: Dict[str, Tuple[Set[str], Set[str]]] = field(default_factory=dict)


_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


def _is_project_root(folder: Path) -> bool:
    """Whether ``folder`` holds a pyproject.toml, setup.cfg or .git, or a setup.py outside a
    package: in a folder with an ``__init__.py``, ``setup.py`` is one of the package's modules
    (open-webui's ``open_webui/utils/telemetry/setup.py``), not a project's setup script."""
    if any(os.path.exists(os.path.join(folder, marker)) for marker in _MARKERS):
        return True
    return os.path.exists(os.path.join(folder, "setup.py")) and not is_package(folder)


def project_root(start: Path, memo: Optional[Dict[Path, Optional[Path]]] = None) -> Optional[Path]:
    """The nearest folder above ``start`` that looks like a project (pyproject, setup, .git).
    ``memo`` (folder -> answer) spares a run over many files looking at the same folders again."""
    folder = start.resolve()
    if not folder.is_dir():
        folder = folder.parent
    return project_root_at(folder, memo)


def project_root_at(folder: Path, memo: Optional[Dict[Path, Optional[Path]]] = None) -> Optional[Path]:
    """:func:`project_root` of a folder already resolved; ``memo`` (folder -> answer) keeps the
    answer of every folder passed on the way."""
    memo = {} if memo is None else memo
    passed: List[Path] = []
    found: Optional[Path] = None
    while True:
        if folder in memo:
            found = memo[folder]
            break
        passed.append(folder)
        if _is_project_root(folder):
            found = folder
            break
        if folder.parent == folder:
            break
        folder = folder.parent
    for seen in passed:
        memo[seen] = found
    return found


def package_root(path: Path) -> Path:
    """The folder above the top package holding ``path`` (its own folder outside packages)."""
    return package_root_at(path.resolve().parent, {})


def package_root_at(folder: Path, memo: Dict[Path, Optional[Path]]) -> Path:
    """:func:`package_root` of a file in ``folder`` (resolved); ``memo``: folder -> answer.

    The top package is the highest folder with an ``__init__.py`` reached going up from the
    file. Folders without one are namespace packages inside the package above them (PEP 420:
    ``pkg/sub/mod.py`` is ``pkg.sub.mod`` without ``pkg/sub/__init__.py``, and so is
    ``pkg/sub/inner/mod.py`` ``pkg.sub.inner.mod`` with ``pkg/sub/inner/__init__.py``), when
    their names can be imported; with no package above, the file's own folder is the root."""
    found = memo.get(folder)
    if found is not None:
        return found
    passed: List[Path] = []
    package = folder
    while not is_package(package):
        if not package.name.isidentifier() or package.parent == package:
            memo[folder] = folder  # no package above: a module of its own folder
            return folder
        passed.append(package)
        package = package.parent
    while True:
        done = memo.get(package)  # a package met on an earlier way up: the rest of the way is the same
        if done is not None:
            for seen in passed:
                memo[seen] = done
            memo[folder] = done
            return done
        # the next package up, through namespace folders (importable names) between; not into a
        # project's own folder that way (a stray __init__.py beside its pyproject, above src/)
        above, between = package.parent, []
        while above.parent != above and not is_package(above) and above.name.isidentifier():
            between.append(above)
            above = above.parent
        if above.parent == above or not is_package(above) or (between and _is_project_root(above)):
            break
        passed.append(package)
        passed.extend(between)
        package = above
    passed.append(package)
    for seen in passed:
        memo[seen] = package.parent
    return package.parent


def is_package(folder: Path) -> bool:
    """Whether ``folder`` holds an ``__init__.py`` (a regular package)."""
    return (folder / "__init__.py").is_file()


def real_file(path: "os.PathLike[str] | str", memo: Dict[str, str]) -> str:
    """``str(Path(path).resolve())``, with :func:`real_folder` for its folder (``memo``) and one
    ``lstat`` for the file itself: the cache names thousands of files at the end of a run."""
    text = os.fspath(path)
    if ".." in text and ".." in Path(text).parts:  # resolved as the path says (a symlink before the `..`)
        return str(Path(text).resolve())
    name = os.path.abspath(text)
    folder, base = os.path.split(name)
    try:
        link = stat.S_ISLNK(os.lstat(name).st_mode)
    except OSError:
        link = True  # resolve says what it is
    return str(Path(name).resolve()) if link else os.path.join(real_folder(folder, memo), base)


def real_folder(folder: str, memo: Dict[str, str]) -> str:
    """``os.path.realpath`` of an absolute, normalized ``folder``: one ``lstat`` for each folder
    not seen yet, where ``realpath`` takes one for every component, every time."""
    found = memo.get(folder)
    if found is None:
        parent, name = os.path.split(folder)
        if not name or parent == folder:
            found = os.path.realpath(folder)
        else:
            try:
                link = stat.S_ISLNK(os.lstat(folder).st_mode)
            except OSError:
                link = True  # realpath says what it is
            found = os.path.realpath(folder) if link else os.path.join(real_folder(parent, memo), name)
        memo[folder] = found
    return found


_UNKNOWN = Path()


def context_files(
    files: Sequence[Path], settings: "Settings", root: Optional[Path] = _UNKNOWN, stats: Optional[Dict[str, os.stat_result]] = None
) -> List[Path]:
    """Other files of the project (``root``, found from the first file unless given): their
    hand-offs can make a function in ``files`` a task. ``stats``, when given, receives what
    ``os.stat`` said of each of them when they were found, by absolute path (for the cache)."""
    return [Path(name) for name in context_names(files, settings, root, stats)]


def context_names(
    files: Sequence[Path], settings: "Settings", root: Optional[Path] = _UNKNOWN, stats: Optional[Dict[str, os.stat_result]] = None
) -> List[str]:
    """:func:`context_files` as the strings the folder's listing gave (a cached run compares them
    with its records and needs no ``Path`` of each)."""
    if not files:
        return []
    if root is _UNKNOWN:
        root = project_root(files[0])
    if root is None:
        return []
    mine = {discovery.identity(f) for f in files}
    seen: Set[object] = set()
    others = []
    top = str(root)
    absolute = os.path.isabs(top) and os.path.normpath(top) == top  # then so is every name below it
    for name, st in discovery.listing(root, settings.exclude, settings.root, settings.respect_gitignore):
        key = discovery.identity_from(name, st)
        if key not in mine and key not in seen:
            seen.add(key)
            others.append(name)
            if stats is not None and st is not None:
                stats[name if absolute else os.path.abspath(name)] = st
    return others


def candidates(paths: Iterable[Path], read: Callable[[Path], "sources.Source"], errors: Optional[List[FileError]] = None) -> List[Path]:
    """The ``paths`` whose text can hold a hand-off (:data:`PREFILTER`), read with ``read``; a
    file that cannot be read is left out, and reported in ``errors`` when it is given."""
    from bglint import sources  # not at the top: a replayed run reads no file

    kept: List[Path] = []
    for path in paths:
        try:
            text = read(path).text
        except sources.SourceError as err:
            if errors is not None:
                errors.append(FileError(discovery.display(path), str(err)))
            continue
        if PREFILTER.search(text):
            kept.append(path)
    return kept
