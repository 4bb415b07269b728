"""Which files to check: paths and directories, minus excluded and git-ignored ones.

Directories are walked without following symlinks (no loops). Inside a git work tree, git itself
says what ``.gitignore`` (nested files, ``info/exclude``, the global excludes) leaves out, exactly as
git sees it. A file named on the command line is always checked, as ruff and flake8 do.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Set, Tuple


@dataclass
class Discovered:
    files: List[Path] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)  # (path as given, reason)


def is_excluded(path: Path, patterns: Sequence[str], root: Optional[Path]) -> bool:
    parts = path.parts
    rel = path.as_posix()
    if root is not None:
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    for pattern in patterns:
        pat = pattern.rstrip("/")
        if any(fnmatch.fnmatch(part, pat) for part in parts):
            return True
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*"):
            return True
    return False


def _git_visible(directory: Path) -> Optional[Set[Path]]:
    """Files git does not ignore under ``directory`` (tracked or not), or None outside a work tree."""
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    base = directory.resolve()
    return {(base / p.decode("utf-8", "surrogateescape")).resolve() for p in out.stdout.split(b"\0") if p}


def _walk(directory: Path, patterns: Sequence[str], root: Optional[Path]) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not is_excluded(here / d, patterns, root))
        for name in sorted(filenames):
            if name.endswith(".py"):
                candidate = here / name
                if candidate.is_file() and not is_excluded(candidate, patterns, root):
                    yield candidate


def discover(paths: Sequence[str], exclude: Sequence[str], root: Optional[Path], respect_gitignore: bool = True) -> Discovered:
    found = Discovered()
    seen: Set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            found.files.append(p)

    for raw in paths:
        path = Path(raw)
        if not os.path.lexists(path):
            found.errors.append((raw, "no such file or directory"))
            continue
        if path.is_dir():
            visible = _git_visible(path) if respect_gitignore else None
            for f in _walk(path, exclude, root):
                if visible is None or f.resolve() in visible:
                    add(f)
        elif path.is_file():
            add(path)
        else:
            found.errors.append((raw, "not a regular file (broken symlink?)"))
    return found


def display(path: Path, cwd: Optional[Path] = None) -> str:
    """``path`` relative to the current directory when it is below it, as users typed it otherwise."""
    cwd = (cwd or Path.cwd()).resolve()
    try:
        return path.resolve().relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()
