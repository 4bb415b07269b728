"""Fetch the pinned benchmark corpus: real FastAPI-based code from PyPI.

The corpus list lives in ``shared/corpus.txt`` beside the repository (``<repo>/../shared``); it is
never copied into the repository. Each non-comment line reads::

    name==version   kind   .py-files   notes...

where ``kind`` is ``wheel`` or ``sdist``. The SMALL corpus is the first entry, the LARGE corpus is
every entry.

Each release is fetched with ``pip download --no-deps`` (``--only-binary=:all:`` for a wheel,
``--no-binary=:all:`` for an sdist) into ``<cache>/dist/<name>-<version>/`` and unpacked into
``<cache>/src/<name>-<version>/`` (an sdist's single top-level folder is stripped). The cache is
``--cache DIR``, else ``$BGLINT_BENCH_CACHE``, else ``~/.cache/bglint-bench``; it is always outside
the repository, and downloaded code is never committed. A release whose source folder is complete
(it carries a ``.bglint-bench-complete`` marker) is reused as it is.

Usage::

    python benchmarks/corpus.py [--small | --large] [--cache DIR]

prints each source folder with its number of ``.py`` files beside the count in the table.
Importable: ``corpus_dirs("small" | "large") -> list[Path]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_FILE = REPO_ROOT.parent / "shared" / "corpus.txt"
DEFAULT_CACHE = Path("~/.cache/bglint-bench")
CACHE_ENV = "BGLINT_BENCH_CACHE"
COMPLETE_MARKER = ".bglint-bench-complete"
SIZES = ("small", "large")
KINDS = ("wheel", "sdist")


class CorpusError(RuntimeError):
    """The corpus list is missing or malformed, or a release could not be fetched."""


@dataclass(frozen=True)
class Release:
    """One pinned release of the corpus list."""

    name: str
    version: str
    kind: str  # "wheel" or "sdist"
    expected_py_files: Optional[int]  # the count written in the table, if any

    @property
    def key(self) -> str:
        """Folder name under ``<cache>/src`` and ``<cache>/dist``."""
        return f"{self.name}-{self.version}"

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def cache_root(cache: Optional[Path] = None) -> Path:
    """The cache folder: ``cache`` if given, else ``$BGLINT_BENCH_CACHE``, else the default."""
    if cache is None:
        env = os.environ.get(CACHE_ENV)
        cache = Path(env) if env else DEFAULT_CACHE
    root = cache.expanduser().resolve()
    if root == REPO_ROOT or REPO_ROOT in root.parents:
        raise CorpusError(f"the corpus cache {root} is inside the repository; choose a folder outside it")
    return root


def parse_corpus_list(text: str, source: str = "corpus.txt") -> List[Release]:
    """Parse the corpus list; comments (``#``) and blank lines are skipped."""
    releases: List[Release] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2 or "==" not in fields[0]:
            raise CorpusError(f"{source}:{lineno}: expected `name==version kind [count] [notes]`: {raw!r}")
        name, _, version = fields[0].partition("==")
        kind = fields[1].lower()
        if not name or not version or kind not in KINDS:
            raise CorpusError(f"{source}:{lineno}: bad entry {raw!r} (kind: one of {', '.join(KINDS)})")
        expected = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None
        releases.append(Release(name, version, kind, expected))
    if not releases:
        raise CorpusError(f"{source}: no releases listed")
    return releases


def load_corpus_list(path: Path = CORPUS_FILE) -> List[Release]:
    """Read the corpus list from ``shared/corpus.txt`` beside the repository."""
    if not path.is_file():
        raise CorpusError(
            f"corpus list not found: {path} (it lives in the shared folder beside the repository, "
            "i.e. ../shared/corpus.txt relative to the repository root)"
        )
    return parse_corpus_list(path.read_text(encoding="utf-8"), str(path))


def select(releases: Sequence[Release], size: str) -> List[Release]:
    """SMALL is the first release, LARGE is all of them."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, not {size!r}")
    return list(releases[:1]) if size == "small" else list(releases)


def iter_py_files(root: Path) -> Iterator[Path]:
    """Every regular ``*.py`` file under ``root`` (symlinks are not followed), in a stable order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            if filename.endswith(".py"):
                path = Path(dirpath, filename)
                if path.is_file() and not path.is_symlink():
                    yield path


def count_py_files(root: Path) -> int:
    return sum(1 for _ in iter_py_files(root))


def _download(release: Release, dest: Path) -> Path:
    """``pip download`` one release into ``dest`` (an empty or reused folder); return the archive."""
    archives = _archives(dest)
    if len(archives) == 1:
        return archives[0]
    binary_flag = "--only-binary=:all:" if release.kind == "wheel" else "--no-binary=:all:"
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", binary_flag, "--dest", str(dest),
           "--quiet", release.requirement]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise CorpusError(f"pip download {release.requirement} failed:\n{result.stdout}")
    archives = _archives(dest)
    if len(archives) != 1:
        raise CorpusError(f"expected one archive for {release.requirement} in {dest}, found {archives}")
    return archives[0]


def _archives(folder: Path) -> List[Path]:
    if not folder.is_dir():
        return []
    suffixes = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(suffixes))


def _extract_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.8.17+/3.9.17+/3.10.12+/3.11.4+
            tar.extractall(into, filter="data")
            return
        root = into.resolve()
        members = []
        for member in tar.getmembers():
            target = (root / member.name).resolve()
            if root != target and root not in target.parents:
                raise CorpusError(f"{archive}: member {member.name!r} would land outside {into}")
            if member.isfile() or member.isdir():  # links and devices are not needed to lint
                members.append(member)
        tar.extractall(into, members=members)


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into ``dest`` atomically (via a sibling temporary folder)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)  # zipfile drops absolute paths and ".." components
        else:
            _extract_tar(archive, tmp)
        top = list(tmp.iterdir())
        content = top[0] if len(top) == 1 and top[0].is_dir() and not archive.name.endswith(".whl") else tmp
        (content / COMPLETE_MARKER).write_text(f"{archive.name}\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        content.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_release(release: Release, cache: Path) -> Path:
    """Download and unpack ``release`` unless its source folder is already complete."""
    src = cache / "src" / release.key
    if (src / COMPLETE_MARKER).is_file():
        return src
    archive = _download(release, cache / "dist" / release.key)
    _unpack(archive, src)
    return src


def corpus_dirs(size: str, cache: Optional[Path] = None, corpus_file: Path = CORPUS_FILE) -> List[Path]:
    """Source folders of the SMALL or LARGE corpus, fetched into the cache when missing."""
    root = cache_root(cache)
    return [ensure_release(r, root) for r in select(load_corpus_list(corpus_file), size)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--small", dest="size", action="store_const", const="small",
                       help="only the first release (default)")
    group.add_argument("--large", dest="size", action="store_const", const="large", help="every release")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"cache folder (default ${CACHE_ENV} or {DEFAULT_CACHE})")
    args = parser.parse_args(argv)
    size = args.size or "small"
    try:
        root = cache_root(args.cache)
        releases = select(load_corpus_list(), size)
        total = 0
        print(f"# {size.upper()} corpus, cache {root}")
        print(f"{'source folder':<70} {'.py files':>9} {'table':>6}")
        for release in releases:
            src = ensure_release(release, root)
            count = count_py_files(src)
            total += count
            expected = "?" if release.expected_py_files is None else str(release.expected_py_files)
            print(f"{str(src):<70} {count:>9} {expected:>6}")
        print(f"{'total':<70} {total:>9}")
    except CorpusError as exc:
        print(f"corpus.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
