"""Smoke test of benchmarks/bench.py on three tiny files: no network, no corpus, no peers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"

FILES = {
    "tasks.py": "import asyncio\n\n\nasync def start() -> None:\n    asyncio.create_task(asyncio.sleep(0))\n",
    "routes.py": (
        "from fastapi import BackgroundTasks, FastAPI\n\napp = FastAPI()\n\n\n"
        "@app.post('/x')\ndef x(tasks: BackgroundTasks) -> None:\n    tasks.add_task(print, 'x')\n"
    ),
    "plain.py": "VALUE = 1\n",
}


def table_rows(stdout: str) -> dict:
    """Map ``tool`` -> cells of each markdown table row below the header."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 7 and cells[0] not in ("tool", "---"):
            rows[cells[0]] = cells
    return rows


def test_bench_tiny_prints_table_and_json(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in FILES.items():
        (src / name).write_text(text, encoding="utf-8")
    out_json = tmp_path / "bench.json"

    proc = subprocess.run(
        [sys.executable, str(BENCH), "--tiny", str(src), "--repeat", "1", "--peers", "none",
         "--json", str(out_json), "--one-file", str(src / "plain.py"),
         "--bglint", f"{sys.executable} -m bglint"],  # this interpreter's, whether or not it is on PATH
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert "| tool | corpus | median s | files/s | peak RSS MiB | summed RSS MiB | ratio vs bglint cold |" in proc.stdout
    rows = table_rows(proc.stdout)
    expected = {"prefilter floor", "parse floor"}
    expected |= {"bglint cold", "bglint cold -j1", "bglint warm", "bglint warm -j1", "bglint one changed", "bglint one file", "bglint --version"}
    assert rows["bglint cold"][6] == "1.00x"
    assert set(rows) == expected  # --peers none: no ruff, flake8-async or fixit row
    for tool, cells in rows.items():
        assert cells[1] == ("one file" if tool in ("bglint one file", "bglint --version") else "tiny")
        assert float(cells[2]) > 0

    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["corpora"]["tiny"]["files"] == 3
    assert {r["tool"] for r in data["results"]} == expected
    floors = {r["tool"]: r for r in data["results"] if r["tool"].endswith("floor")}
    for result in floors.values():
        (run,) = result["runs"]
        assert run["returncode"] == 0
        assert run["inner"]["files"] == 3
        assert run["max_rss_mib"] > 1
        if sys.platform.startswith("linux"):  # sampled over the process tree from /proc
            assert run["sum_rss_mib"] > 0
        assert result["files_per_s"] == 3 / result["median_s"]
    assert floors["parse floor"]["runs"][0]["inner"]["failed"] == 0
    for result in data["results"]:
        if not result["tool"].endswith("floor") and sys.platform.startswith("linux"):
            # the summed RSS comes from one more run, untimed: the sampler slows a run down
            assert all(run["sum_rss_mib"] is None for run in result["runs"])
            assert result["memory_run"]["returncode"] in (0, 1) and result["memory_run"]["sum_rss_mib"] > 0
            assert result["peak_tree_rss_mib"] == result["memory_run"]["sum_rss_mib"]
        if result["tool"] in ("bglint one file", "bglint --version"):  # many runs: milliseconds
            assert len(result["runs"]) == 21 and all(run["returncode"] == 0 for run in result["runs"])
        if result["tool"] == "bglint one changed":  # the two files that can hold a hand-off, each edited and put back
            assert len(result["runs"]) == 4 and all(run["returncode"] == 0 for run in result["runs"])
    for name, text in FILES.items():  # put back as they were
        assert (src / name).read_text(encoding="utf-8") == text
