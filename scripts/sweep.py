"""Crash sweep: run every bglint rule over every ``.py`` file of real code and count what happens.

    python scripts/sweep.py DIR...                 # each DIR is one project
    python scripts/sweep.py --site-packages        # each top-level entry of site-packages is one project

Per file, an error is either the input's fault (syntax, decode, nesting, other) or a crash
(``internal error in bglint``). Findings are counted per code. Exit status 1 when any internal
error occurred (a crash is a bug in bglint, whatever the input), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import sysconfig
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bglint.config import RawConfig, Settings, build_settings  # noqa: E402
from bglint.engine import Engine, FileError  # noqa: E402

KINDS = ("syntax", "decode", "nesting", "other", "internal")


@dataclass(frozen=True)
class Unit:
    """Files analysed together as one project."""

    label: str
    root: str
    files: Tuple[str, ...]


@dataclass
class UnitResult:
    label: str
    files: int = 0
    checked: int = 0
    seconds: float = 0.0
    errors: Dict[str, int] = field(default_factory=dict)  # kind -> count
    findings: Dict[str, int] = field(default_factory=dict)  # code -> count
    internal: List[Tuple[str, str]] = field(default_factory=list)  # (path, message)
    input_errors: List[Tuple[str, str, str]] = field(default_factory=list)  # (kind, path, message)


def error_kind(error: FileError) -> str:
    """Whose fault a per-file error is, from the engine's flag and message."""
    if error.internal or error.message.startswith("internal error in bglint"):
        return "internal"
    text = error.message
    if text.startswith(("syntax error", "cannot parse")):
        return "syntax"
    if text.startswith(("cannot decode", "source contains NUL", "unknown encoding")):
        return "decode"
    if "nested" in text:
        return "nesting"
    return "other"


def py_files(root: Path) -> List[Path]:
    """Every ``.py`` file under ``root`` (symlinked folders are not followed), sorted."""
    if root.is_file():
        return [root] if root.suffix == ".py" else []
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        out.extend(Path(dirpath) / n for n in sorted(filenames) if n.endswith(".py") and (Path(dirpath) / n).is_file())
    return out


def dir_units(dirs: Sequence[str]) -> List[Unit]:
    return [Unit(d, d, tuple(str(p) for p in py_files(Path(d)))) for d in dirs]


def site_packages_units() -> List[Unit]:
    """One unit per top-level package or module of the running interpreter's site-packages."""
    site = Path(sysconfig.get_paths()["purelib"])
    units = []
    for entry in sorted(site.iterdir()):
        if entry.name.endswith((".dist-info", ".egg-info")) or entry.name == "__pycache__":
            continue
        files = py_files(entry)
        if files:
            units.append(Unit(f"site-packages/{entry.name}", str(site), tuple(str(p) for p in files)))
    return units


def sample(units: List[Unit], limit: Optional[int], seed: int = 0) -> List[Unit]:
    """At most ``limit`` files per unit, picked reproducibly."""
    if not limit:
        return units
    rng = random.Random(seed)
    return [Unit(u.label, u.root, tuple(sorted(rng.sample(u.files, min(limit, len(u.files)))))) for u in units]


def settings_for(root: str) -> Settings:
    from bglint.rules import ALL_CODES, DEFAULT_CODES

    # no config file: every rule, default options, nothing excluded (the files are named one by one)
    return build_settings(RawConfig(), ALL_CODES, DEFAULT_CODES, cli_select=["ALL"], root=Path(root))


def run_unit(unit: Unit) -> UnitResult:
    result = UnitResult(unit.label, files=len(unit.files))
    start = time.perf_counter()
    engine = Engine(settings_for(unit.root))
    try:
        report = engine.check([Path(f) for f in unit.files])
    except Exception as err:  # a crash outside the per-file guard: the whole unit failed
        result.errors["internal"] = 1
        where = traceback.extract_tb(err.__traceback__)[-1]
        result.internal.append((unit.label, f"{type(err).__name__}: {err} (at {where.filename}:{where.lineno})"))
        result.seconds = time.perf_counter() - start
        return result
    result.checked = report.files_checked
    for error in report.errors:
        kind = error_kind(error)
        result.errors[kind] = result.errors.get(kind, 0) + 1
        if kind == "internal":
            result.internal.append((error.path, error.message))
        else:
            result.input_errors.append((kind, error.path, error.message))
    result.findings = dict(Counter(f.code for f in report.findings))
    result.seconds = time.perf_counter() - start
    return result


def run_all(units: Sequence[Unit], jobs: int) -> Iterator[UnitResult]:
    if jobs <= 1 or len(units) <= 1:
        for unit in units:
            yield run_unit(unit)
        return
    # biggest first, so one large unit does not finish last alone
    ordered = sorted(units, key=lambda u: -len(u.files))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(run_unit, ordered)


@dataclass
class Summary:
    units: int = 0
    files: int = 0
    checked: int = 0
    seconds: float = 0.0
    errors: Dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    findings: Dict[str, int] = field(default_factory=dict)
    internal: List[Tuple[str, str]] = field(default_factory=list)
    input_errors: List[Tuple[str, str, str]] = field(default_factory=list)
    slowest: List[Tuple[str, float]] = field(default_factory=list)

    def add(self, r: UnitResult) -> None:
        self.units += 1
        self.files += r.files
        self.checked += r.checked
        self.seconds += r.seconds
        for kind, n in r.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        for code, n in r.findings.items():
            self.findings[code] = self.findings.get(code, 0) + n
        self.internal.extend(r.internal)
        self.input_errors.extend(r.input_errors)
        self.slowest = sorted([*self.slowest, (r.label, round(r.seconds, 2))], key=lambda s: -s[1])[:5]


def render(s: Summary, verbose: bool) -> str:
    lines = [
        f"sweep: {s.files} files in {s.units} unit(s), {s.seconds:.1f} s of analysis",
        f"  files checked:   {s.checked}",
        "  input errors:    {} ({})".format(
            sum(s.errors[k] for k in KINDS if k != "internal"), ", ".join(f"{k} {s.errors[k]}" for k in KINDS if k != "internal")
        ),
        f"  internal errors: {s.errors['internal']}",
        f"  findings:        {sum(s.findings.values())}",
    ]
    for code in sorted(s.findings):
        lines.append(f"    {code}  {s.findings[code]}")
    if s.slowest and s.units > 1:
        lines.append("  slowest units:   " + ", ".join(f"{label} {sec:.1f}s" for label, sec in s.slowest))
    if verbose:
        for kind, path, message in s.input_errors:
            lines.append(f"  [{kind}] {path}: {message}")
    for path, message in s.internal:
        lines.append(f"INTERNAL {path}: {message}")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="*", help="folders to sweep, each one project")
    parser.add_argument("--site-packages", action="store_true", help="also sweep this interpreter's site-packages")
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="at most N files per unit (reproducible)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="units analysed in parallel processes")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every input error too")
    args = parser.parse_args(argv)
    units = dir_units(args.dirs) + (site_packages_units() if args.site_packages else [])
    if not units:
        parser.error("give folders to sweep and/or --site-packages")
    summary = Summary()
    for result in run_all(sample(units, args.sample), args.jobs):
        summary.add(result)
    sys.stdout.write(json.dumps(asdict(summary), indent=2) + "\n" if args.json else render(summary, args.verbose))
    return 1 if summary.errors["internal"] else 0


if __name__ == "__main__":
    sys.exit(main())
