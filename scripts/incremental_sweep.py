"""Incremental sweep: after one file changes, the cached run must report what a full run reports.

    python scripts/incremental_sweep.py DIR... [--edits 20] [--seed 1]

Each DIR is copied to a temporary folder (the original is never touched) and checked once with
``bglint check --select ALL`` to fill the cache. Then, ``--edits`` times, one file is edited (half
of the time a file that can hold a hand-off): a comment appended, a line deleted or doubled, a
def renamed, a hand-off added. The cached run (which re-analyses only what the change can affect)
and a ``--no-cache`` run must print the same JSON and exit alike (with ``--with-file``, also when
they check the edited file alone, as pre-commit does); then the file is put back and the cached run
must print the first run's output again. Prints the time of each cached run beside the
full run's, and every difference; exits 1 on any.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bglint.report import PREFILTER  # noqa: E402

HANDOFF = "\n\nasync def _probe_endpoint(background_tasks):\n    background_tasks.add_task(_probe_task)\n\n\nasync def _probe_task():\n    import time\n    time.sleep(1)\n"


def run(folder: Path, *extra: str, paths: Tuple[str, ...] = (".",)) -> Tuple[int, str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bglint", "check", "--select", "ALL", "--output-format", "json", *extra, *paths], cwd=folder, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def edit(text: str, rng: random.Random) -> Tuple[str, str]:
    lines = text.splitlines(keepends=True)
    kind = rng.choice(["comment", "delete", "double", "rename", "handoff"])
    if kind == "comment" or not lines:
        return "comment", text + "\n# an edit\n"
    if kind == "delete":
        i = rng.randrange(len(lines))
        return f"delete line {i + 1}", "".join(lines[:i] + lines[i + 1 :])
    if kind == "double":
        i = rng.randrange(len(lines))
        return f"double line {i + 1}", "".join(lines[: i + 1] + lines[i:])
    if kind == "rename":
        defs = [m for m in re.finditer(r"^(\s*(?:async\s+)?def\s+)(\w+)", text, re.M)]
        if defs:
            m = rng.choice(defs)
            return f"rename {m.group(2)}", text[: m.start(2)] + m.group(2) + "_renamed" + text[m.end(2) :]
    return "hand-off", text + HANDOFF


def sweep(source: Path, edits: int, rng: random.Random, with_file: bool) -> Tuple[int, List[float], List[float]]:
    problems = 0
    quick: List[float] = []
    full: List[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / source.name
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".bglint_cache", "__pycache__"))
        files = sorted(p for p in folder.rglob("*.py") if p.is_file())
        texts = {p: p.read_bytes() for p in files}
        holders = [p for p in files if PREFILTER.search(texts[p].decode("utf-8", "replace"))]
        base = run(folder)
        print(f"{source.name}: {len(files)} files, {len(holders)} can hold a hand-off; first run {base[2]:.2f} s", flush=True)
        for _ in range(edits):
            path = rng.choice(holders if holders and rng.random() < 0.5 else files)
            original = texts[path]
            what, changed = edit(original.decode("utf-8", "replace"), rng)
            path.write_text(changed, encoding="utf-8")
            got = run(folder)
            want = run(folder, "--no-cache")
            quick.append(got[2])
            full.append(want[2])
            name = path.relative_to(folder)
            if got[:2] != want[:2]:
                problems += 1
                print(f"  DIFFERENT after {what} in {name}: exit {got[0]} vs {want[0]}")
            if with_file:  # as pre-commit runs it: only the edited file (the project's entry answers)
                one = run(folder, paths=(str(name),))
                if one[:2] != run(folder, "--no-cache", paths=(str(name),))[:2]:
                    problems += 1
                    print(f"  DIFFERENT checking only {name} after {what}")
            path.write_bytes(original)
            back = run(folder)
            quick.append(back[2])
            if back[:2] != base[:2]:
                problems += 1
                print(f"  DIFFERENT after putting back {name} ({what})")
            print(f"  {what:<20} {str(name)[-60:]:<60} cached {got[2]:.2f} s, put back {back[2]:.2f} s, full {want[2]:.2f} s", flush=True)
    return problems, quick, full


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--with-file", action="store_true", help="after each edit, also check the edited file alone (cached and not)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    problems = 0
    for d in args.dirs:
        found, quick, full = sweep(d, args.edits, rng, args.with_file)
        problems += found
        if quick:
            print(f"{d.name}: cached runs median {statistics.median(quick):.2f} s, max {max(quick):.2f} s; full runs median {statistics.median(full):.2f} s; {found} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
