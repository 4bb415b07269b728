"""Fix sweep: apply every fix (safe and unsafe) to a copy of real code and check nothing got corrupted.

    python scripts/fix_sweep.py DIR...

Each DIR is copied to a temporary folder (the original is never touched) and fixed there with
``--fix --unsafe-fixes`` semantics, in-process. Then, per file:

- a changed file still compiles (checked only when the original compiled);
- every finding that offered a fix is gone, or the fix was reported as not applied;
- a second fixing run changes nothing;
- a file without applied fixes is byte-identical;
- a changed file keeps its encoding, BOM, line endings and permission bits;
- no temporary file is left behind.

Prints the figures (files, fixable findings, fixes applied / not applied / verified) and every
problem; exits 1 when there is any problem or internal error.
"""

from __future__ import annotations

import argparse
import codecs
import shutil
import stat
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep import py_files, settings_for  # noqa: E402

from bglint import sources  # noqa: E402
from bglint.engine import Engine, Report  # noqa: E402

Snapshot = Dict[Path, Tuple[bytes, int]]


@dataclass
class DirResult:
    label: str
    files: int = 0
    changed: int = 0
    fixable: int = 0
    applied: int = 0
    not_applied: int = 0
    verified: int = 0
    problems: List[str] = field(default_factory=list)


def snapshot(files: Sequence[Path]) -> Snapshot:
    return {f: (f.read_bytes(), stat.S_IMODE(f.stat().st_mode)) for f in files}


def compiles(data: bytes, name: str) -> bool:
    """Whether CPython compiles ``data`` (bytes: the BOM and coding cookie count). Nothing is run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(data, name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return False
    return True


def line_endings(data: bytes) -> Tuple[bool, bool]:
    """(has CRLF, has a bare LF)."""
    crlf = data.count(b"\r\n")
    return crlf > 0, data.count(b"\n") > crlf


def format_problems(path: Path, old: bytes, new: bytes, old_mode: int, new_mode: int) -> List[str]:
    """What changed in a fixed file beyond its text: encoding, BOM, line endings, mode, compiling."""
    out = []
    if old_mode != new_mode:
        out.append(f"mode changed {oct(old_mode)} -> {oct(new_mode)}")
    if old.startswith(codecs.BOM_UTF8) != new.startswith(codecs.BOM_UTF8):
        out.append("BOM added or lost")
    try:
        if sources.decode(old).encoding != sources.decode(new).encoding:
            out.append("encoding changed")
    except sources.SourceError as err:
        out.append(f"fixed file no longer decodes: {err}")
    (old_crlf, old_lf), (new_crlf, new_lf) = line_endings(old), line_endings(new)
    if (old_crlf and not old_lf and new_lf) or (old_lf and not old_crlf and new_crlf):
        out.append("line endings changed")
    if compiles(old, str(path)) and not compiles(new, str(path)):
        out.append("fixed file no longer compiles")
    return out


def _key(display_path: str) -> Path:
    # the engine reports paths relative to the current directory when below it, absolute otherwise
    return (Path.cwd() / display_path).resolve()


def _internal(report: Report, what: str) -> List[str]:
    return [f"{e.path}: {what}: {e.message}" for e in report.errors if e.internal]


def fix_dir(src: Path, keep: bool = False) -> DirResult:
    result = DirResult(str(src))
    work = Path(tempfile.mkdtemp(prefix="bglint-fix-sweep-"))
    try:
        dst = work / (src.name or "tree")
        shutil.copytree(src, dst, symlinks=True)
        files = py_files(dst)
        result.files = len(files)
        engine = Engine(settings_for(str(dst)))

        first = engine.check(files)
        result.fixable = sum(1 for f in first.findings if f.fix is not None)
        before = snapshot(files)
        fixing = engine.check(files, fix=True, unsafe=True, write=True)
        after = snapshot(files)
        again = engine.check(files, fix=True, unsafe=True, write=True)
        after_again = snapshot(files)
        last = engine.check(files)
        result.problems += _internal(first, "lint") + _internal(fixing, "fix") + _internal(again, "second fix") + _internal(last, "re-lint")

        fixed: Dict[Path, Tuple[str, int]] = {}  # file -> (fixed text, fixes applied)
        dropped: Counter = Counter()  # (file, code) -> fixes reported as not applied
        for ff in fixing.fixes:
            key = _key(ff.path)
            if ff.fixed != ff.original:
                fixed[key] = (ff.fixed, len(ff.applied))
            for finding, _why in ff.dropped:
                dropped[(key, finding.code)] += 1
        result.applied = sum(n for _, n in fixed.values())
        result.not_applied = sum(dropped.values())
        left: Counter = Counter((_key(f.path), f.code) for f in last.findings if f.fix is not None)

        bad: Set[Path] = set()
        for path in files:
            key = path.resolve()
            (old, old_mode), (new, new_mode) = before[path], after[path]
            problems: List[str] = []
            if key not in fixed:
                if new != old or new_mode != old_mode:
                    problems.append("changed although no fix was reported")
            else:
                result.changed += 1
                problems += format_problems(path, old, new, old_mode, new_mode)
                if not any("decode" in p for p in problems) and sources.decode(new).text != fixed[key][0]:
                    problems.append("the file on disk is not the fixed text")
            if after_again[path] != after[path]:
                problems.append("a second --fix run changed the file again")
            for (where, code), n in left.items():
                if where == key and n > dropped[(key, code)]:
                    problems.append(f"{n} fixable {code} finding(s) remain, not reported as not applied")
            if problems:
                bad.add(key)
                rel = path.relative_to(dst).as_posix()
                result.problems += [f"{rel}: {p}" for p in problems]
        result.verified = sum(n for key, (_, n) in fixed.items() if key not in bad)
        leftovers = [p for p in dst.rglob("*.bglint-tmp")]
        result.problems += [f"{p.relative_to(dst).as_posix()}: temporary file left behind" for p in leftovers]
    finally:
        if keep:
            print(f"kept the fixed copy in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return result


def render(results: Sequence[DirResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"fix-sweep: {r.label}")
        lines.append(f"  files:             {r.files} ({r.changed} changed)")
        lines.append(f"  fixable findings:  {r.fixable}")
        lines.append(f"  fixes applied:     {r.applied}")
        lines.append(f"  not applied:       {r.not_applied}")
        lines.append(f"  fixes verified:    {r.verified}")
        lines.append(f"  problems:          {len(r.problems)}")
        lines += [f"PROBLEM {p}" for p in r.problems]
    if len(results) > 1:
        total = lambda attr: sum(getattr(r, attr) for r in results)  # noqa: E731
        lines.append(
            f"total: {total('files')} files, {total('fixable')} fixable, {total('applied')} applied, "
            f"{total('not_applied')} not applied, {total('verified')} verified, {sum(len(r.problems) for r in results)} problems"
        )
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", help="folders to fix (copies of them)")
    parser.add_argument("--keep", action="store_true", help="keep the fixed copies and print where they are")
    args = parser.parse_args(argv)
    results = [fix_dir(Path(d), args.keep) for d in args.dirs]
    sys.stdout.write(render(results))
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
