"""Time bglint beside its peers and two floors on the pinned PyPI corpus.

Usage::

    python benchmarks/bench.py [--corpus small|large|both] [--repeat N] [--tiny DIR]
                               [--peers all|none|ruff,flake8-async,fixit] [--bglint CMD]
                               [--peer-venv DIR] [--[no-]skip-slow] [--cache DIR] [--json OUT]
                               [--one-file PATH]

Rows (each one a command run ``--repeat`` times in a row; the table shows the median):

* ``bglint cold`` / ``bglint cold -j1``: ``bglint check --select ALL --no-cache --exit-zero
  --output-format concise DIRS`` with the default number of jobs / ``--jobs 1``.
* ``bglint warm`` / ``bglint warm -j1``: the same without ``--no-cache``, after one untimed run
  that fills the cache. bglint is ``bglint`` on PATH or ``--bglint CMD``; without it these rows
  are skipped ("bglint not installed").
* ``bglint one changed``: ``bglint warm``'s command after one file changed, for 5 files that can
  hold a hand-off (evenly spread over the corpus's sorted list of them): timed once after a
  comment is appended to the file and once after it is put back (10 runs; the notes give the
  slowest). The files are put back even when the benchmark is interrupted.
* Peers, from the virtualenv ``--peer-venv`` (default ``<repo>/../venv-bench``):
  ``ruff check --isolated --select ASYNC,FAST,S105,S106,S107,RUF006 --no-cache --exit-zero``
  (and ``ruff warm``: the same with its cache in the scratch folder, after one untimed run),
  ``flake8 --select ASYNC --exit-zero`` (with flake8-async installed), ``fixit lint`` (its
  built-in rules). ``--isolated`` keeps ruff from reading the ``[tool.ruff]`` tables that some
  sdists ship, which would exclude files or ignore rules per file. flake8 reads configuration from
  its working folder only, and every tool runs in an empty scratch folder. With ``--skip-slow``
  (the default) flake8-async and fixit are not run on LARGE (about 20 minutes each).
* ``parse floor``: one Python process that walks the folders and runs ``libcst.parse_module`` on
  every ``.py`` file: what any libcst-based linter pays at least. It runs in this interpreter when
  it has libcst, else in the peer virtualenv's.
* ``prefilter floor``: one Python process that walks the folders and reads every byte of every
  ``.py`` file.
* ``bglint one file`` / ``bglint --version`` (corpus ``one file``), with ``--one-file PATH``, or
  by default fastapi's ``fastapi/encoders.py`` when the LARGE corpus is timed: ``bglint check
  PATH`` as pre-commit runs it on a file without a hand-off, after one untimed run that fills the
  cache (the run still lists the file's project, to know no other file changed), and the start-up
  floor of Python, click and bglint's imports; 21 runs each (at least ``--repeat``).

What is measured, per run:

* wall time: ``time.perf_counter()`` just before the process is started and just after it has
  been reaped, so interpreter start-up and imports count, as a user sees them;
* peak RSS: ``ru_maxrss`` from ``os.wait4`` on that one process. Linux reports there the largest
  resident set of the process itself *and of every descendant it waited for* (a process pool's
  workers included), i.e. the single biggest process of the tree, not the sum over processes
  that were alive at the same time. A multi-process tool with four 100 MiB workers shows
  100 MiB. Threads (ruff) share their process's RSS;
* summed RSS: the memory of the process and all its descendants, summed, sampled every 20 ms from
  ``/proc`` on a thread of the benchmark (Linux only), the largest sum seen. Each process counts
  with its proportional set size (a page shared by n processes counts 1/n in each: a forked worker
  does not count its parent's pages again). This is the figure for "all processes summed" (a pool
  of four workers with 100 MiB of their own shows about 400 MiB); a peak shorter than 20 ms can be
  missed. Reading ``/proc`` that often takes CPU from the tool measured (0.6 s of a 6.4 s LARGE
  run of bglint on two cores), so it is sampled in one more run of each command, after the timed
  ones and not timed (for ``bglint one changed``, after an edit of its first file); only the
  floors (one process) and flake8-async and fixit (a minute each) are sampled while timed;
* CPU time (JSON only): user + system time from the same ``wait4`` rusage, summed over the process
  and its reaped descendants. On a shared machine it moves less than wall time does; the load
  average at start and end is printed under the table for the same reason;
* files/s: the corpus's ``.py`` file count (as ``corpus.py`` counts them) over the median time,
  the same count for every tool, whatever a tool's own discovery skips.

Standard output of each tool goes to a file (its line count is kept in the JSON as a sanity
check), standard error too (shown when the exit status is unexpected). Before the timed runs one
untimed read of every file warms the OS page cache, so "cold" means "without bglint's cache",
never "from disk". POSIX only (``os.wait4``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus as corpus_mod  # noqa: E402  (the sibling script, importable without a package)

REPO_ROOT = corpus_mod.REPO_ROOT
DEFAULT_PEER_VENV = REPO_ROOT.parent / "venv-bench"
PEERS = ("ruff", "flake8-async", "fixit")
SLOW_PEERS = ("flake8-async", "fixit")
RUFF_SELECT = "ASYNC,FAST,S105,S106,S107,RUF006"
NOT_INSTALLED = "bglint not installed"

# Run inside a fresh interpreter: walk like corpus.iter_py_files (no symlinks), print one JSON line.
_WALK = """
import json, os, sys, time
def py_files(roots):
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if name.endswith('.py') and not os.path.islink(path) and os.path.isfile(path):
                    yield path
"""
PREFILTER_FLOOR = _WALK + """
start = time.perf_counter()
files = nbytes = 0
for path in py_files(sys.argv[1:]):
    with open(path, 'rb') as fh:
        nbytes += len(fh.read())
    files += 1
print(json.dumps({'files': files, 'bytes': nbytes, 'inner_s': time.perf_counter() - start}))
"""
PARSE_FLOOR = _WALK + """
import libcst
start = time.perf_counter()
files = nbytes = failed = 0
for path in py_files(sys.argv[1:]):
    with open(path, 'rb') as fh:
        source = fh.read()
    files += 1
    nbytes += len(source)
    try:
        libcst.parse_module(source)
    except Exception:  # syntax errors in the corpus (Python 2 samples, test data) count as work done
        failed += 1
print(json.dumps({'files': files, 'bytes': nbytes, 'failed': failed,
                  'inner_s': time.perf_counter() - start}))
"""


@dataclass(frozen=True)
class Corpus:
    """The folders one row is timed on."""

    name: str
    dirs: Tuple[Path, ...]
    files: int
    nbytes: int


@dataclass(frozen=True)
class Job:
    """One row of the table: a command, how to prepare it, and which exit statuses are normal."""

    tool: str
    corpus: Corpus
    cmd: Tuple[str, ...]
    ok_codes: Tuple[int, ...] = (0,)
    prime: bool = False  # one untimed run first (fills bglint's cache)
    repeat: int = 0  # timed runs: at least this many (0: --repeat)
    json_stdout: bool = False  # the floors print their own numbers as one JSON line
    edits: Tuple[Path, ...] = ()  # each timed run follows an edit of one of these (see run_job)
    # summed RSS from one more run, untimed (see run_job); False: sampled during the timed runs
    memory_run: bool = True


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float  # user + system time of the process and its reaped descendants
    max_rss_mib: float
    sum_rss_mib: Optional[float]  # sampled: the most the process tree held at once (Linux only)
    returncode: int
    output_lines: int
    inner: Optional[Dict[str, float]]
    stderr_tail: str


@dataclass
class Result:
    job: Job
    runs: List[Run] = field(default_factory=list)
    memory: Optional[Run] = None  # the untimed run that sampled the summed RSS (Job.memory_run)

    @property
    def median_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return max(r.max_rss_mib for r in self.runs)

    @property
    def peak_tree_rss_mib(self) -> Optional[float]:
        sums = [r.sum_rss_mib for r in [*self.runs, *([self.memory] if self.memory else [])] if r.sum_rss_mib is not None]
        return max(sums) if sums else None

    @property
    def files_per_s(self) -> float:
        return self.job.corpus.files / self.median_s if self.median_s > 0 else float("inf")

    @property
    def bad_runs(self) -> List[Run]:
        return [r for r in self.runs if r.returncode not in self.job.ok_codes]


class TreeRss:
    """Samples, every ``interval`` seconds on a thread, the memory of a process and all its
    descendants (from ``/proc``), summed, and keeps the largest sum. Each process counts with its
    proportional set size (PSS: a page shared by n processes counts 1/n in each), so a forked
    worker or a forked ``git`` that still shares its parent's pages does not count them twice;
    where the kernel has no ``smaps_rollup``, with its RSS. A sample can miss a peak shorter than
    the interval; ``ru_maxrss`` cannot, but it is per process, not summed."""

    def __init__(self, pid: int, interval: float = 0.02, sample: bool = True) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        # sample=False: no thread, no figure (a timed run)
        self.available = sample and sys.platform.startswith("linux") and Path("/proc/self/statm").exists()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE") if self.available else 0

    def __enter__(self) -> "TreeRss":
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.sample())
            self._stop.wait(self.interval)

    def sample(self) -> int:
        children: Dict[int, List[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, ()))
            total += self._memory_of(pid)
        return total

    def _memory_of(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        return int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            pass
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                return int(f.read().split()[1]) * self._page
        except (OSError, IndexError, ValueError):
            return 0

    @property
    def peak_mib(self) -> Optional[float]:
        return self.peak_bytes / (1024 * 1024) if self.available else None


def measure(cmd: Sequence[str], cwd: Path, scratch: Path, json_stdout: bool = False, sample: bool = False) -> Run:
    """Run ``cmd`` once; wall time around start and reaping, ``ru_maxrss`` from ``wait4``, and with
    ``sample`` the sampled peak of the resident set summed over the process tree (:class:`TreeRss`:
    its thread reads ``/proc`` every 20 ms, which on two busy cores slows a run down: 0.6 s of a 6.4 s
    LARGE run, so timed runs do without it).

    With ``json_stdout`` the last line of standard output is read as the floor's own numbers.
    """
    out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        with TreeRss(proc.pid, sample=sample) as tree:
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    # ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
    rss_mib = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    data = out_path.read_bytes()
    inner: Optional[Dict[str, float]] = None
    if json_stdout and data.strip():
        try:
            inner = json.loads(data.strip().splitlines()[-1])
        except ValueError:
            inner = None
    stderr_tail = err_path.read_bytes()[-2000:].decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, rss_mib, tree.peak_mib, proc.returncode, data.count(b"\n"), inner, stderr_tail)


EDIT = b"\n# an edit by bglint's benchmark\n"


@contextlib.contextmanager
def _edited(path: Path) -> Iterator[None]:
    """``path`` with :data:`EDIT` appended, put back afterwards whatever happens."""
    original = path.read_bytes()
    try:
        path.write_bytes(original + EDIT)
        yield
    finally:
        path.write_bytes(original)


def run_job(job: Job, repeat: int, cwd: Path, scratch: Path) -> Result:
    """``job.cmd`` timed ``repeat`` times (after an untimed run when it primes); with ``edits``,
    twice per file instead: after a comment is appended to it, and after it is put back. Then,
    with ``job.memory_run``, once more untimed, sampling the summed RSS (after an edit of the first
    file, for ``edits``); without, the timed runs sample it."""
    result = Result(job)
    sample = not job.memory_run
    if job.prime:
        measure(job.cmd, cwd, scratch)
    if job.edits:
        for path in job.edits:
            with _edited(path):
                result.runs.append(measure(job.cmd, cwd, scratch, sample=sample))
            result.runs.append(measure(job.cmd, cwd, scratch, sample=sample))
        if job.memory_run:
            with _edited(job.edits[0]):
                result.memory = measure(job.cmd, cwd, scratch, sample=True)
            measure(job.cmd, cwd, scratch)  # the cache as it was
        return result
    for _ in range(max(repeat, job.repeat)):
        result.runs.append(measure(job.cmd, cwd, scratch, job.json_stdout, sample=sample))
    if job.memory_run:
        result.memory = measure(job.cmd, cwd, scratch, job.json_stdout, sample=True)
    return result


def load_corpus(name: str, dirs: Sequence[Path]) -> Corpus:
    files = nbytes = 0
    for d in dirs:
        for path in corpus_mod.iter_py_files(d):
            files += 1
            nbytes += path.stat().st_size
    return Corpus(name, tuple(dirs), files, nbytes)


def warm_page_cache(corpus: Corpus) -> None:
    """Read every file once, untimed, so that no row pays for the disk."""
    for d in corpus.dirs:
        for path in corpus_mod.iter_py_files(d):
            path.read_bytes()


def parse_peers(value: str) -> List[str]:
    if value == "all":
        return list(PEERS)
    if value == "none":
        return []
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}"
        )
    return names


def venv_bin(venv: Path, exe: str) -> Optional[Path]:
    path = venv / ("Scripts" if os.name == "nt" else "bin") / exe
    return path if path.is_file() and os.access(path, os.X_OK) else None


def floor_python(peer_venv: Path) -> Optional[str]:
    """An interpreter with libcst: this one, else the peer virtualenv's."""
    if importlib.util.find_spec("libcst") is not None:
        return sys.executable
    python = venv_bin(peer_venv, "python")
    if python and subprocess.run([str(python), "-c", "import libcst"], capture_output=True).returncode == 0:
        return str(python)
    return None


def bglint_jobs(bglint: Sequence[str], corpus: Corpus) -> List[Job]:
    base = (*bglint, "check", "--select", "ALL", "--exit-zero", "--output-format", "concise")
    dirs = tuple(str(d) for d in corpus.dirs)
    return [
        Job("bglint cold", corpus, (*base, "--no-cache", *dirs)),
        Job("bglint cold -j1", corpus, (*base, "--no-cache", "--jobs", "1", *dirs)),
        Job("bglint warm", corpus, (*base, *dirs), prime=True),
        Job("bglint warm -j1", corpus, (*base, "--jobs", "1", *dirs), prime=True),
        Job("bglint one changed", corpus, (*base, *dirs), prime=True, edits=changed_files(corpus)),
    ]


CHANGED_FILES = 5


def changed_files(corpus: Corpus) -> Tuple[Path, ...]:
    """The files ``bglint one changed`` edits: ``CHANGED_FILES`` of the corpus's files that can
    hold a hand-off (the byte prefilter's pattern), evenly spread over their sorted list."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bglint.report import PREFILTER  # the repository's (no third-party imports)

    found = sorted(p for d in corpus.dirs for p in corpus_mod.iter_py_files(d) if PREFILTER.search(p.read_text("utf-8", "replace")))
    step = len(found) / CHANGED_FILES
    return tuple(found[int(step * i + step / 2)] for i in range(CHANGED_FILES)) if len(found) >= CHANGED_FILES else tuple(found)


ONE_FILE_RUNS = 21


def one_file_jobs(bglint: Sequence[str], path: Path) -> List[Job]:
    """``bglint check PATH`` with its cache, as pre-commit runs it, and ``bglint --version``."""
    corpus = Corpus("one file", (path.parent,), 1, path.stat().st_size)
    return [
        Job("bglint one file", corpus, (*bglint, "check", str(path)), ok_codes=(0, 1), prime=True, repeat=ONE_FILE_RUNS),
        Job("bglint --version", corpus, (*bglint, "--version"), repeat=ONE_FILE_RUNS),
    ]


def default_one_file(corpora: Sequence[Corpus]) -> Optional[Path]:
    """fastapi's ``fastapi/encoders.py`` (no hand-off in it) when a timed corpus holds fastapi."""
    for c in corpora:
        for d in c.dirs:
            candidate = d / "fastapi" / "encoders.py"
            if d.name.startswith("fastapi-") and candidate.is_file():
                return candidate
    return None


def peer_jobs(peer: str, exe: Path, corpus: Corpus) -> List[Job]:
    dirs = tuple(str(d) for d in corpus.dirs)
    if peer == "ruff":
        cmd = (str(exe), "check", "--isolated", "--select", RUFF_SELECT, "--exit-zero")
        # warm: ruff's own cache, in the scratch working folder, filled by one untimed run
        return [
            Job("ruff", corpus, (*cmd, "--no-cache", *dirs)),
            Job("ruff warm", corpus, (*cmd, "--cache-dir", ".ruff-bench-cache", *dirs), prime=True),
        ]
    if peer == "flake8-async":
        return [Job("flake8-async", corpus, (str(exe), "--select", "ASYNC", "--exit-zero", *dirs), memory_run=False)]
    # fixit's exit status: bit 0 = some file has violations, bit 1 = some file failed (e.g. syntax).
    return [Job("fixit", corpus, (str(exe), "lint", *dirs), ok_codes=(0, 1, 2, 3), memory_run=False)]


PEER_EXE = {"ruff": "ruff", "flake8-async": "flake8", "fixit": "fixit"}


def peer_available(peer: str, venv: Path) -> Tuple[Optional[Path], str]:
    """The peer's executable in ``venv``, or None and why it can't be used."""
    exe = venv_bin(venv, PEER_EXE[peer])
    if exe is None:
        return None, f"{peer} not installed in {venv}"
    if peer == "flake8-async":
        python = venv_bin(venv, "python")
        probe = [str(python), "-c", "import flake8_async"] if python else None
        if probe is None or subprocess.run(probe, capture_output=True).returncode != 0:
            return None, f"flake8-async plugin not installed in {venv}"
    return exe, ""


def tool_version(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def load_average() -> Optional[List[float]]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def fmt_seconds(s: float) -> str:
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def render_table(results: Sequence[Result]) -> str:
    cold = {r.job.corpus.name: r.median_s for r in results if r.job.tool == "bglint cold"}
    lines = [
        "| tool | corpus | median s | files/s | peak RSS MiB | summed RSS MiB | ratio vs bglint cold |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        base = cold.get(r.job.corpus.name)
        ratio = f"{r.median_s / base:.2f}x" if base else "n/a"
        tree = r.peak_tree_rss_mib
        lines.append(
            f"| {r.job.tool} | {r.job.corpus.name} | {fmt_seconds(r.median_s)} | {r.files_per_s:,.0f} | "
            f"{r.peak_rss_mib:.0f} | {'n/a' if tree is None else f'{tree:.0f}'} | {ratio} |"
        )
    return "\n".join(lines)


def notes_for(results: Sequence[Result]) -> List[str]:
    notes: List[str] = []
    warm = {(r.job.tool, r.job.corpus.name): r.median_s for r in results if r.runs}
    for corpus in sorted({r.job.corpus.name for r in results}):
        ours, theirs = warm.get(("bglint warm", corpus)), warm.get(("ruff warm", corpus))
        if ours and theirs:
            notes.append(f"warm on {corpus}: bglint {fmt_seconds(ours)} s / ruff {fmt_seconds(theirs)} s = {ours / theirs:.2f}x")
    for r in results:
        where = f"{r.job.tool} on {r.job.corpus.name}"
        if r.job.edits and r.runs:
            slowest = max(range(len(r.runs)), key=lambda i: r.runs[i].wall_s)
            notes.append(f"{where}: slowest {fmt_seconds(r.runs[slowest].wall_s)} s, after "
                         f"{'putting back' if slowest % 2 else 'editing'} {r.job.edits[slowest // 2]}")
        for run in r.bad_runs[:1]:
            notes.append(f"{where}: exit status {run.returncode} in {len(r.bad_runs)}/{len(r.runs)} runs; "
                         f"stderr ends: {run.stderr_tail.strip()[-300:]!r}")
        inner = r.runs[-1].inner if r.job.json_stdout else None
        if inner is not None:
            loop_s = statistics.median(x.inner["inner_s"] for x in r.runs if x.inner)
            note = f"{where}: in-process loop {fmt_seconds(loop_s)} s"
            note += f", {int(inner['files'])} files, {inner['bytes'] / 1e6:.1f} MB"
            if inner.get("failed"):
                note += f", {int(inner['failed'])} files failed to parse"
            notes.append(note)
    return notes


def to_json(results: Sequence[Result], skipped: Sequence[Dict[str, str]], meta: Dict[str, object],
            corpora: Sequence[Corpus]) -> Dict[str, object]:
    return {
        "meta": meta,
        "corpora": {
            c.name: {"dirs": [str(d) for d in c.dirs], "files": c.files, "bytes": c.nbytes} for c in corpora
        },
        "results": [
            {
                "tool": r.job.tool,
                "corpus": r.job.corpus.name,
                "cmd": list(r.job.cmd),
                "median_s": r.median_s,
                "median_cpu_s": r.median_cpu_s,
                "files_per_s": r.files_per_s,
                "peak_rss_mib": r.peak_rss_mib,
                "peak_tree_rss_mib": r.peak_tree_rss_mib,
                "memory_run": (
                    {"wall_s": r.memory.wall_s, "sum_rss_mib": r.memory.sum_rss_mib, "returncode": r.memory.returncode} if r.memory else None
                ),
                "runs": [
                    {"wall_s": x.wall_s, "cpu_s": x.cpu_s, "max_rss_mib": x.max_rss_mib, "sum_rss_mib": x.sum_rss_mib,
                     "returncode": x.returncode, "output_lines": x.output_lines, "inner": x.inner}
                    for x in r.runs
                ],
            }
            for r in results
        ],
        "skipped": list(skipped),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time bglint, its peers and the parse/read floors on the pinned corpus.",
        epilog="See the module docstring for exactly what is measured.",
    )
    parser.add_argument("--corpus", choices=("small", "large", "both"), default="both")
    parser.add_argument("--tiny", type=Path, metavar="DIR", help="time on DIR instead of the corpus")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (median shown; default 3)")
    parser.add_argument("--peers", type=parse_peers, default=list(PEERS),
                        help=f"all, none, or a comma list of {', '.join(PEERS)} (default all)")
    parser.add_argument("--bglint", metavar="CMD",
                        help="bglint command (shell words; default `bglint` on PATH)")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_PEER_VENV,
                        help=f"virtualenv holding the peers (default {DEFAULT_PEER_VENV})")
    parser.add_argument("--skip-slow", action=argparse.BooleanOptionalAction, default=True,
                        help="skip flake8-async and fixit on LARGE (default on)")
    parser.add_argument("--cache", type=Path, help="corpus cache (see corpus.py)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the raw numbers here")
    parser.add_argument("--one-file", type=Path, metavar="PATH",
                        help="time `bglint check PATH` with its cache, as pre-commit runs it "
                             "(default: fastapi/encoders.py of the corpus's fastapi, if timed)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat < 1:
        print("bench.py: error: --repeat must be at least 1", file=sys.stderr)
        return 2
    if not hasattr(os, "wait4"):
        print("bench.py: error: needs os.wait4 (POSIX)", file=sys.stderr)
        return 2

    corpora: List[Corpus] = []
    try:
        if args.tiny is not None:
            if not args.tiny.is_dir():
                print(f"bench.py: error: {args.tiny} is not a folder", file=sys.stderr)
                return 2
            corpora.append(load_corpus("tiny", [args.tiny.resolve()]))
        else:
            for size in ("small", "large") if args.corpus == "both" else (args.corpus,):
                corpora.append(load_corpus(size.upper(), corpus_mod.corpus_dirs(size, args.cache)))
    except corpus_mod.CorpusError as exc:
        print(f"bench.py: error: {exc}", file=sys.stderr)
        return 2

    skipped: List[Dict[str, str]] = []

    def skip(tool: str, corpus: str, reason: str) -> None:
        skipped.append({"tool": tool, "corpus": corpus, "reason": reason})
        print(f"skip {tool} on {corpus}: {reason}")

    bglint: Optional[List[str]] = shlex.split(args.bglint) if args.bglint else ["bglint"]
    found = shutil.which(bglint[0]) if bglint else None
    if found is None:
        print(NOT_INSTALLED + (f" ({args.bglint!r} not found)" if args.bglint else ""))
        bglint = None
    fpython = floor_python(args.peer_venv)
    peer_exes: Dict[str, Path] = {}
    for peer in args.peers:
        exe, why = peer_available(peer, args.peer_venv)
        if exe is None:
            print(f"{why}; {peer} rows skipped")
        else:
            peer_exes[peer] = exe

    jobs: List[Job] = []
    for c in corpora:
        dirs = tuple(str(d) for d in c.dirs)
        if bglint is not None:
            jobs.extend(bglint_jobs(bglint, c))
        for peer in args.peers:
            if peer not in peer_exes:
                skip(peer, c.name, "not installed")
            elif args.skip_slow and c.name == "LARGE" and peer in SLOW_PEERS:
                skip(peer, c.name, "slow on LARGE (--skip-slow; pass --no-skip-slow to time it)")
            else:
                jobs.extend(peer_jobs(peer, peer_exes[peer], c))
        if fpython is None:
            skip("parse floor", c.name, "no interpreter with libcst")
        else:
            jobs.append(Job("parse floor", c, (fpython, "-c", PARSE_FLOOR, *dirs), json_stdout=True, memory_run=False))
        prefilter = (sys.executable, "-c", PREFILTER_FLOOR, *dirs)
        jobs.append(Job("prefilter floor", c, prefilter, json_stdout=True, memory_run=False))
    one_file = args.one_file.resolve() if args.one_file is not None else default_one_file(corpora)
    if args.one_file is not None and not one_file.is_file():
        print(f"bench.py: error: {args.one_file} is not a file", file=sys.stderr)
        return 2
    if one_file is not None and bglint is not None:
        jobs.extend(one_file_jobs(bglint, one_file))

    load_start = load_average()
    meta: Dict[str, object] = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": load_start,
        "repeat": args.repeat,
        "floor_python": fpython,
        "versions": {},
    }
    versions: Dict[str, str] = {}
    if bglint is not None:
        versions["bglint"] = tool_version(bglint)
    for peer, exe in peer_exes.items():
        versions[peer] = tool_version([str(exe)])
    meta["versions"] = versions

    results: List[Result] = []
    with tempfile.TemporaryDirectory(prefix="bglint-bench-") as tmp:
        workdir, scratch = Path(tmp, "cwd"), Path(tmp, "out")
        workdir.mkdir()
        scratch.mkdir()
        for c in corpora:
            print(f"{c.name}: {c.files} .py files, {c.nbytes / 1e6:.1f} MB in {len(c.dirs)} folder(s)")
            warm_page_cache(c)
        for job in jobs:
            print(f"timing {job.tool} on {job.corpus.name} ({args.repeat}x) ...", flush=True)
            results.append(run_job(job, args.repeat, workdir, scratch))
    load_end = load_average()
    meta["loadavg_end"] = load_end

    print()
    print(render_table(results))
    for note in notes_for(results):
        print(f"- {note}")
    if load_start is not None and load_end is not None:
        print(f"- load average (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f} "
              f"on {os.cpu_count()} CPUs")
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(results, skipped, meta, corpora), indent=2) + "\n",
                             encoding="utf-8")
        print(f"raw numbers written to {args.json}")
    return 1 if any(r.bad_runs for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
