"""The on-disk cache: a run over files that have not changed replays the last run's report.

One entry per *run key*: bglint's version and own files, the Python version, the settings (config
values, selected rules, FastAPI target), the working directory (findings hold display paths) and
the project's folder (outside a project: the set of files checked). An entry records, for every
file of the project (the checked files and the others, read for their hand-offs), its size,
modification time and content hash as the run read it (:class:`ReadLog`), and whether the byte
prefilter kept it; the files the analysis *consulted* (parsed: candidates, the task modules and
every module a name was resolved into); the findings and errors of every file checked so far, by
this run or an earlier one over other files of the project (pre-commit checks the files of each
commit); and what each file's findings depended on (:class:`Deps`).

The entry is replayed when every file is as recorded and holds the findings of every file checked,
or when the only files that differ were not consulted and still fail the prefilter (and no rule
read every file): the analysis never read them, and a change that cannot add a hand-off cannot
change what it finds. Else, when only the content of files changed, :mod:`bglint.incremental`
analyses again only the files whose findings depended on them, and the checked files the entry
holds nothing for (:class:`Stale`). A new or removed file re-runs the whole analysis (a new module
can change what an import resolves to).

Entries are JSON (never pickle: a cache folder can come from anywhere), written atomically, so two
runs at once each leave a complete entry. A cache that is missing, corrupt, from another version or
unwritable is ignored: the run is done from scratch and the result is the same.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from bglint import __version__

try:  # hashlib loads OpenSSL when imported (2-3 ms of a one-file run); BLAKE2 is built in
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter built without it
    from hashlib import blake2b

if TYPE_CHECKING:  # pragma: no cover
    from bglint.model import Finding
    from bglint.report import FileError, Report

FORMAT = 2
DEFAULT_DIR = ".bglint_cache"
RACY_NS = 2_000_000_000


def folder(settings: Any, cwd: Path) -> Path:
    if settings.cache_dir is not None:
        base = Path(settings.cache_dir)
        if not base.is_absolute() and settings.root is not None:
            base = Path(settings.root) / base
        return base
    return (Path(settings.root) if settings.root is not None else cwd) / DEFAULT_DIR


def _canonical(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@functools.lru_cache(maxsize=1)
def _own_files() -> List[Tuple[str, int, int]]:
    """bglint's own modules and data, by size and time: a changed bglint never replays old results.
    Read once per process (a run over many projects asks for each)."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for folder, subfolders, names in os.walk(here):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]  # its many files say nothing new
        for name in names:
            if name.endswith((".py", ".toml")):
                path = os.path.join(folder, name)
                st = os.stat(path)
                out.append((os.path.relpath(path, here), st.st_size, st.st_mtime_ns))
    return sorted(out)


def run_key(settings: Any, files: Sequence[Union[str, Path]], cwd: Path, extra: Sequence[str] = ()) -> str:
    key = blake2b(_run_basis(settings, str(cwd), tuple(extra)), digest_size=16)
    key.update(json.dumps(sorted(map(str, files))).encode())
    return key.hexdigest()


_BASES: Dict[Tuple[int, str, Tuple[str, ...]], Tuple[Any, bytes]] = {}


def _run_basis(settings: Any, cwd: str, extra: Tuple[str, ...]) -> bytes:
    """Everything of a run key but its files, serialized once per settings (a run over many
    projects asks for one key per project)."""
    found = _BASES.get((id(settings), cwd, extra))
    if found is None or found[0] is not settings:
        data = {
            "format": FORMAT,
            "version": __version__,
            "python": sys.version,
            "own": _own_files(),
            "settings": {f.name: _canonical(getattr(settings, f.name)) for f in fields(settings)},
            "cwd": cwd,
            "extra": list(extra),
        }
        # the settings object is kept with its bytes: its id cannot be another's while it is here
        found = _BASES[(id(settings), cwd, extra)] = (settings, json.dumps(data, sort_keys=True).encode())
    return found[1]


def digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


def entry(settings: Any, files: Sequence[Union[str, Path]], extra: Sequence[str] = (), root: Optional[Path] = None) -> "Cache":
    """The cache entry of a run with ``settings`` from the current folder over the project in
    ``root`` (whichever of its files are checked: the entry keeps the findings of each file
    checked so far), or outside a project over ``files``."""
    cwd = Path.cwd()
    scope = [str(root)] if root is not None else [os.path.abspath(f) for f in files]
    return Cache(folder(settings, cwd), run_key(settings, scope, cwd, extra))


class ReadLog:
    """What each file was when the run read it, by absolute path: its size and time from just
    before the read, and the hash of the bytes read (the first read of each). An entry records
    these, not the files as they are when it is written: a file changed while the run went on is
    analysed again by the next run, not replayed with a report made from its old text."""

    def __init__(self) -> None:
        self.started_ns = time.time_ns()  # before any file is read
        self.files: Dict[str, Tuple[int, int, str]] = {}

    def __call__(self, path: Union[str, Path], st: os.stat_result, data: bytes) -> None:
        name = os.path.abspath(path)
        if name not in self.files:
            self.files[name] = (st.st_size, st.st_mtime_ns, digest(data))


ANY_FILE = "*"  # as bglint.project.ANY_FILE (not imported: a replay loads no analysis code)


class Deps:
    """What a run's findings depended on, by resolved path (:data:`ANY_FILE`: every file):
    ``lint``, the files each linted file's analysis read; ``index``, for each candidate, the files
    its hand-offs and their targets were found from, and the files of those targets. (A plain
    class: a dataclass costs a one-file run its creation at import.)"""

    def __init__(self, lint: Dict[str, Set[str]], index: Dict[str, Tuple[Set[str], Set[str]]]) -> None:
        self.lint = lint
        self.index = index

    def to_json(self, by_resolved: Dict[str, str], position: Dict[str, int]) -> Dict[str, Any]:
        """As numbers: the ``position`` of each file among the entry's records (-1: any file, also
        for a file with no record, so that a change anywhere re-analyses what read it)."""

        def pos(path: str) -> int:
            return position.get(by_resolved.get(path, ""), -1)

        def many(paths: Iterable[str]) -> List[int]:
            return sorted({pos(p) for p in paths})

        lint = [[pos(f), many(deps)] for f, deps in self.lint.items()]
        index = [[pos(f), many(deps), many(targets)] for f, (deps, targets) in self.index.items()]
        resolved = {str(position[name]): path for path, name in by_resolved.items() if path != name and name in position}
        any_file = any(-1 in row[1] for row in lint) or any(-1 in row[1] or -1 in row[2] for row in index)
        return {"lint": lint, "index": index, "resolved": resolved, "any_file": any_file}

    @staticmethod
    def resolved(data: Dict[str, Any]) -> List[str]:
        """The resolved path of each record of an entry, in order."""
        moved = data.get("resolved") or {}
        return [moved.get(str(i), name) for i, name in enumerate(data["files"])]

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Deps":
        paths = cls.resolved(data)

        def path(i: int) -> str:
            return ANY_FILE if i < 0 else paths[i]

        lint = {path(f): {path(d) for d in deps} for f, deps in data["lint"]}
        index = {path(f): ({path(d) for d in deps}, {path(t) for t in targets}) for f, deps, targets in data["index"]}
        return cls(lint, index)


class Stale:
    """An entry some of whose files changed in content (``changed``: name -> the record they
    would have now, candidate or not by the prefilter), or that holds no findings yet for some
    files the run checks (``missing``: their names); ``started``: when the files were looked at."""

    def __init__(self, cache: "Cache", data: Dict[str, Any], changed: Dict[str, List[Any]], missing: Set[str], started: int) -> None:
        self.cache = cache
        self.data = data
        self.changed = changed
        self.missing = missing
        self.started = started


class Cache:
    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self.path = root / f"v{FORMAT}" / f"{key}.json"

    # -- reading -------------------------------------------------------------------------------
    def load(self) -> Optional[Dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        return data

    def look(
        self, files: Iterable[Union[str, Path]], prefilter: Any, stats: Optional[Dict[str, os.stat_result]] = None, checked: Optional[Iterable[Union[str, Path]]] = None
    ) -> Union[None, Dict[str, Any], "Stale"]:
        """The entry if it still holds for a run over ``files`` (the project's) that checks
        ``checked`` (default: all of them) and holds their findings (see :func:`report_of`);
        :class:`Stale` if only the content of some files changed, or some checked files have no
        findings in it yet, and the entry says what depends on what (see
        :mod:`bglint.incremental`); else None. ``stats``: what ``os.stat`` said of some files a
        moment ago, by absolute path (not asked again).

        Files compared by content and found as good are recorded again, with the time of this
        look: after a checkout touched every file, only the first replay reads them all."""
        started = time.time_ns()  # before any file is read here
        known = stats or {}
        data = self.load()
        if data is None:
            return None
        try:
            # each record: [size, mtime_ns, digest, candidate] (see store)
            records: Dict[str, Tuple[int, int, str, bool]] = {p: tuple(r) for p, r in data["files"].items()}
            consulted = set(data["consulted"])
            any_file = bool(data.get("any_file"))  # a rule read every file: any change matters
            # a file modified just before the entry was written may change again within the
            # filesystem's timestamp granularity without its size or time changing ("racy git"):
            # those are compared by content
            racy_after = int(data["written_ns"]) - RACY_NS
            current = {p if p in known else os.path.abspath(p) for p in files}  # ``known`` is by absolute path
            # every file of the run was recorded, and the other records are consulted modules
            if not current <= set(records) or not set(records) - current <= consulted:
                return None
            names = list(records)
            reported = {names[i] for i in data["checked"]}
            wanted = current if checked is None else {os.path.abspath(p) for p in checked}
            missing = wanted - reported
            verified: Dict[str, List[Any]] = {}
            changed: Dict[str, List[Any]] = {}
            for name, (size, mtime_ns, old_digest, was_candidate) in records.items():
                st = known.get(name)
                if st is None:
                    try:
                        st = os.stat(name)
                    except OSError:
                        return None
                if st.st_size == size and st.st_mtime_ns == mtime_ns and mtime_ns < racy_after:
                    continue
                try:
                    raw = Path(name).read_bytes()
                except OSError:
                    return None
                found = digest(raw)
                if found == old_digest:
                    verified[name] = [st.st_size, st.st_mtime_ns, found, was_candidate]
                    continue
                candidate = bool(prefilter.search(raw.decode("utf-8", "replace")))
                if any_file or name in consulted or was_candidate or candidate:
                    changed[name] = [st.st_size, st.st_mtime_ns, found, candidate]
                else:  # the analysis never read it, and it still cannot hold a hand-off
                    verified[name] = [st.st_size, st.st_mtime_ns, found, False]
            if not isinstance(data["findings"], dict) or not isinstance(data["errors"], dict):
                return None
        except Exception:  # any shape of corruption: run from scratch
            return None
        if changed or missing:
            if "lint" not in data:
                return None
            data["files"].update(verified)
            return Stale(self, data, changed, missing, started)
        # the time taken before reading them: a later change to a file read here gets a later time
        if any(rec[1] < started - RACY_NS for rec in verified.values()):
            data["files"].update(verified)
            data["written_ns"] = started
            self._write(data)
        return data

    # -- writing -------------------------------------------------------------------------------
    def store(
        self,
        files: Iterable[Union[str, Path]],
        candidates: Set[str],
        consulted: Set[str],
        results: Optional["Results"],
        log: Optional[ReadLog] = None,
        deps: Optional[Deps] = None,
        previous: Optional[Dict[str, List[Any]]] = None,
    ) -> bool:
        """Record the run (``candidates`` and ``consulted`` hold resolved paths; ``results``: the
        findings and errors of each file checked, by absolute path; ``log``: the files as the run
        read them; a file it did not read is recorded as ``previous`` has it (a record known to
        hold) or else as it is now; ``deps``: what each file's findings depended on, when the run
        recorded it); False when the cache folder cannot be written or ``results`` is None."""
        if results is None:
            return False
        log = log if log is not None else ReadLog()
        previous = previous or {}
        from bglint.report import real_file

        names: Dict[str, str] = {}  # abspath -> resolved
        folders: Dict[str, str] = {}
        for path in files:
            names[os.path.abspath(path)] = real_file(path, folders)
        by_resolved = {r: a for a, r in names.items()}
        for extra in consulted:
            if extra not in by_resolved:  # a module outside the run (excluded, another root)
                names[extra] = extra
                by_resolved[extra] = extra
        records: Dict[str, List[Any]] = {}
        for name, resolved in names.items():
            known = log.files.get(name) or log.files.get(resolved)
            if known is None and name in previous:
                known = tuple(previous[name][:3])
            if known is None:  # not read by the run: as it is now
                try:
                    st = os.stat(name)
                    raw = Path(name).read_bytes()
                except OSError:
                    continue  # unreadable: the replay finds it missing and runs again
                log(name, st, raw)
                known = log.files[name]
            records[name] = [*known, resolved in candidates]
        position = {name: i for i, name in enumerate(records)}
        kept = [(position[name], found) for name, found in results.items() if name in position]
        data: Dict[str, Any] = {
            "format": FORMAT,
            "written_ns": log.started_ns,
            "files": records,
            "consulted": sorted(by_resolved[c] for c in consulted if c in by_resolved),
            "checked": sorted(i for i, _ in kept),
            "findings": {str(i): [finding_to_json(f) for f in findings] for i, (findings, _) in kept if findings},
            "errors": {str(i): [[e.message, e.internal] for e in errors] for i, (_, errors) in kept if errors},
        }
        if deps is not None:
            data.update(deps.to_json(by_resolved, position))
        return self._write(data)

    def _write(self, data: Dict[str, Any]) -> bool:
        from bglint import sources

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.root / ".gitignore"
            if not ignore.exists():
                sources.write_atomic(ignore, b"# created by bglint\n*\n")
            sources.write_atomic(self.path, json.dumps(data).encode("utf-8"))
        except OSError:
            return False
        return True


# -- findings to and from JSON ------------------------------------------------------------------
def finding_to_json(f: Finding) -> Dict[str, Any]:
    fix = None
    if f.fix is not None:
        fix = {
            "safety": f.fix.safety.value,
            "edits": [[e.start, e.end, e.content] for e in f.fix.edits],
            "description": f.fix.description,
            "imports": [[i.module, i.name] for i in f.fix.imports],
        }
    return {
        "code": f.code,
        "message": f.message,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "severity": f.severity.value,
        "fix": fix,
        "suppress_lines": list(f.suppress_lines),
    }


def finding_from_json(d: Dict[str, Any]) -> Finding:
    from bglint.model import Edit, Finding, Fix, ImportNeed, Safety, Severity  # a run that replays none need not import them

    fix = None
    if d["fix"] is not None:
        fx = d["fix"]
        fix = Fix(
            Safety(fx["safety"]),
            tuple(Edit(int(s), int(e), str(c)) for s, e, c in fx["edits"]),
            fx["description"],
            tuple(ImportNeed(m, n) for m, n in fx["imports"]),
        )
    return Finding(
        code=d["code"],
        message=d["message"],
        path=d["path"],
        line=int(d["line"]),
        column=int(d["column"]),
        end_line=int(d["end_line"]),
        end_column=int(d["end_column"]),
        severity=Severity(d["severity"]),
        fix=fix,
        suppress_lines=tuple(d["suppress_lines"]),
    )


# The findings and errors of each file checked, by absolute path.
Results = Dict[str, Tuple[List["Finding"], List["FileError"]]]


def results_of(report: "Report", files: Sequence[Path]) -> Optional[Results]:
    """``report``'s findings and errors by checked file (each of ``files`` gets its own, empty
    when it has none); None if one cannot be told apart (then nothing is stored)."""
    from bglint import discovery
    from bglint.report import real_file

    out: Results = {os.path.abspath(p): ([], []) for p in files}
    shown = {f.path for f in report.findings} | {e.path for e in report.errors}
    bases = {os.path.basename(d) for d in shown}
    cwd = Path.cwd().resolve()
    folders: Dict[str, str] = {}
    # a file's findings carry its display path (where a symlink leads): only files with such a
    # name, and symlinks, can have any
    by_display = {discovery.display(p, cwd, real_file(p, folders)): os.path.abspath(p) for p in files if p.name in bases or os.path.islink(p)}
    if not shown <= set(by_display):
        return None
    for f in report.findings:
        out[by_display[f.path]][0].append(f)
    for e in report.errors:
        out[by_display[e.path]][1].append(e)
    return out


def results_from_json(data: Dict[str, Any]) -> Results:
    """The findings and errors of every file the entry ``data`` holds them for; raises on a
    corrupt entry."""
    from bglint.report import FileError

    names = list(data["files"])
    out: Results = {}
    for i in data["checked"]:
        key = str(i)
        findings = [finding_from_json(f) for f in data["findings"].get(key, ())]
        errors = [FileError("", str(m), bool(internal)) for m, internal in data["errors"].get(key, ())]  # named by report_of
        out[names[i]] = (findings, errors)
    return out


def report_of(results: Results, files: Sequence[Path]) -> "Report":
    """The report of a run that checked ``files``, from their results (each finding and error
    named by the file's display path as this run names it)."""
    from dataclasses import replace

    from bglint import discovery
    from bglint.report import Report

    report = Report()
    for path in files:
        findings, errors = results[os.path.abspath(path)]
        if findings or errors:
            shown = discovery.display(path)
            report.findings.extend(f if f.path == shown else replace(f, path=shown) for f in findings)
            report.errors.extend(replace(e, path=shown) for e in errors)
    report.findings.sort(key=lambda f: f.sort_key())  # (bglint.model is imported only with findings)
    report.errors.sort(key=lambda e: e.path)  # as the engine lists them
    report.files_checked = len(files) - len({e.path for e in report.errors})
    return report
