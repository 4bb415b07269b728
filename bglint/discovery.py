"""Which files to check: paths and directories, minus excluded and git-ignored ones.

Directories are walked without following symlinks (no loops). Inside a git work tree, git itself
says what ``.gitignore`` (nested files, ``info/exclude``, the global excludes) leaves out, exactly as
git sees it. A file named on the command line is always checked, as ruff and flake8 do.
"""

from __future__ import annotations

import fnmatch
import functools
import operator
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union


@dataclass
class Discovered:
    files: List[Path] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)  # (path as given, reason)
    # what ``os.stat`` said of each file when it was found (None: it could not), in the order of
    # ``files``: the cache compares it with its records instead of asking again
    stats: List[Optional[os.stat_result]] = field(default_factory=list)


_GLOB = re.compile(r"[*?\[]")


@functools.lru_cache(maxsize=32)
def _matchers(patterns: Tuple[str, ...]) -> Tuple[FrozenSet[str], Optional["re.Pattern[str]"], Optional["re.Pattern[str]"]]:
    """``fnmatch`` semantics, compiled once: the names no path component may have (the patterns
    without a glob character or ``/``, as the default ones: a set lookup, and no relative-path test
    needed, since the relative path's components are the path's), then for the other patterns one
    regex for "a path component matches a pattern" and one for "the relative path matches" (the
    pattern itself or anything below it)."""
    pats = [p.rstrip("/") for p in patterns]
    names = frozenset(p for p in pats if "/" not in p and not _GLOB.search(p))
    rest = [p for p in pats if p not in names]
    if not rest:
        return names, None, None
    part = re.compile("|".join(fnmatch.translate(p) for p in rest))
    rel = re.compile("|".join([fnmatch.translate(p) for p in rest] + [fnmatch.translate(p + "/*") for p in rest]))
    return names, part, rel


def _part_excluded(part: str, names: FrozenSet[str], part_re: Optional["re.Pattern[str]"]) -> bool:
    return part in names or (part_re is not None and part_re.match(part) is not None)


def is_excluded(path: Path, patterns: Sequence[str], root: Optional[Path], rel: Optional[str] = None) -> bool:
    """Whether an ``exclude`` pattern matches a component of ``path`` or its path relative to
    ``root`` (``rel``, when the caller knows it already)."""
    names, part_re, rel_re = _matchers(tuple(patterns))
    if any(_part_excluded(part, names, part_re) for part in path.parts):
        return True
    if rel_re is None:
        return False
    if rel is None:
        rel = path.as_posix()
        if root is not None:
            try:
                rel = path.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                pass
    return rel_re.match(rel) is not None


def _in_work_tree(directory: Path) -> bool:
    """Whether ``directory`` can be in a git work tree: a ``.git`` in it or above, or git told
    where the repository is (``GIT_DIR``, ``GIT_WORK_TREE``). Saves starting git where it can only
    say no."""
    if "GIT_DIR" in os.environ or "GIT_WORK_TREE" in os.environ:
        return True
    folder = directory.resolve()
    return any(os.path.exists(os.path.join(f, ".git")) for f in (folder, *folder.parents))


def _git_visible(directory: Path) -> Callable[[], Optional[Set[str]]]:
    """Files git does not ignore under ``directory`` (tracked or not), as paths relative to it
    with ``/`` (as git lists them, and as :func:`_walk` builds them: no ``resolve()`` per file), or
    None outside a work tree. git is started now and waited for when the returned function is
    called: it lists while the caller walks the folder."""
    if not _in_work_tree(directory):
        return lambda: None
    import subprocess  # a run over a folder needs it; one over named files does not

    try:
        git = subprocess.Popen(
            ["git", "-C", str(directory), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return lambda: None

    def listed() -> Optional[Set[str]]:
        try:
            out, _ = git.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            git.kill()
            git.communicate()
            return None
        if git.returncode != 0:
            return None
        return {os.fsdecode(p) for p in out.split(b"\0") if p}

    return listed


def _walk(directory: Path, patterns: Sequence[str], root: Optional[Path]) -> Iterable[Tuple[str, str]]:
    """The ``.py`` files under ``directory`` that no pattern excludes (as ``os.scandir`` names them:
    ``directory``, then the path below it), each with its path relative
    to ``directory`` (``/``-separated), folder by folder in name
    order (files first, then each subfolder), as ``os.walk`` would list them without following
    symlinked folders. One ``scandir`` per folder tells files from folders without a ``stat``;
    paths relative to ``root`` are built on the way down (no ``resolve()`` per file), and only the
    new component of each path is matched against the patterns (its folders passed already)."""
    names, part_re, rel_re = _matchers(tuple(patterns))
    if any(_part_excluded(part, names, part_re) for part in directory.parts):
        return  # the folder itself is excluded, so is everything under it
    top: Optional[str] = None
    if root is not None:
        try:
            top = directory.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            top = None
    given = directory.as_posix()  # outside ``root``, paths are matched as given below it

    def excluded(entry: "os.DirEntry[str]", sub: str) -> bool:
        if _part_excluded(entry.name, names, part_re):
            return True
        if rel_re is None:
            return False
        if top is not None:
            rel = "/".join(p for p in (top, sub) if p != ".")
        elif _is_symlink(entry):
            return is_excluded(Path(entry.path), patterns, root)  # a symlink may lead back under ``root``
        else:
            rel = sub if given == "." else f"{given.rstrip('/')}/{sub}"
        return rel_re.match(rel) is not None

    stack = [(str(directory), ".")]
    while stack:
        dirpath, sub = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                entries = sorted(it, key=_name)
        except OSError:
            continue  # unreadable or gone: as os.walk does
        folders = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            child = entry.name if sub == "." else f"{sub}/{entry.name}"
            if is_dir:
                if not excluded(entry, child) and not _is_symlink(entry):
                    folders.append((entry.path, child))
            elif entry.name.endswith(".py"):
                try:
                    regular = entry.is_file()
                except OSError:
                    regular = False
                if regular and not excluded(entry, child):
                    yield entry.path, child
        stack.extend(reversed(folders))


_name = operator.attrgetter("name")


def _is_symlink(entry: "os.DirEntry[str]") -> bool:
    """Known from the folder's listing, without a ``stat`` (as ``os.path.islink``: False on error)."""
    try:
        return entry.is_symlink()
    except OSError:
        return False


def discover(paths: Sequence[str], exclude: Sequence[str], root: Optional[Path], respect_gitignore: bool = True) -> Discovered:
    found = Discovered()
    seen: Set[object] = set()

    def add(p: Path, st: Optional[os.stat_result]) -> None:
        key = identity_from(p, st)  # the same file reached twice: named twice, through a symlink
        if key not in seen:
            seen.add(key)
            found.files.append(p)
            found.stats.append(st)

    for raw in paths:
        path = Path(raw)
        if not os.path.lexists(path):
            found.errors.append((raw, "no such file or directory"))
            continue
        if path.is_dir():
            for f, st in listing(path, exclude, root, respect_gitignore):
                add(Path(f), st)
        elif path.is_file():
            add(path, _stat(path))
        else:
            found.errors.append((raw, "not a regular file (broken symlink?)"))
    return found


def listing(directory: Path, exclude: Sequence[str], root: Optional[Path], respect_gitignore: bool = True) -> Iterator[Tuple[str, Optional[os.stat_result]]]:
    """The files :func:`discover` finds in the folder ``directory`` (named as ``os.scandir`` names
    them: no ``Path`` made for each), each with what ``os.stat`` said of it (None: it could not),
    in order; a file reached twice (through a symlink) is listed twice."""
    visible_files = _git_visible(directory) if respect_gitignore else None
    walked = list(_walk(directory, exclude, root))
    visible = visible_files() if visible_files is not None else None
    for f, rel in walked:
        if visible is None or rel in visible:
            try:
                st: Optional[os.stat_result] = os.stat(f)
            except OSError:
                st = None
            yield f, st


def identity(path: Path) -> object:
    """What makes two paths the same file: its device and inode (one stat, where ``resolve()``
    takes one per component), or its absolute path when it cannot be read."""
    return identity_from(path, _stat(path))


def identity_from(path: "Union[str, Path]", st: Optional[os.stat_result]) -> object:
    """:func:`identity` from what ``os.stat`` said of ``path`` (None: it could not)."""
    return os.path.abspath(path) if st is None else (st.st_dev, st.st_ino)


def _stat(path: "Union[str, Path]") -> Optional[os.stat_result]:
    try:
        return os.stat(path)
    except OSError:
        return None


def display(path: Path, cwd: Optional[Path] = None, real: Optional[str] = None) -> str:
    """``path`` relative to the current directory when it is below it, as users typed it otherwise.
    ``real``: ``path`` resolved already (see :func:`bglint.report.real_file`)."""
    cwd = (cwd or Path.cwd()).resolve()
    try:
        return (Path(real) if real is not None else path.resolve()).relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()
