"""`--fix` never leaves a file half written: not when two runs fix the same tree at once, not when a
write fails or is interrupted half-way. (bglint has no cache yet, so there is no cache to corrupt
and no cache test here.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

import pytest
from tests._cli import runner

from bglint import sources
from bglint.cli import main

REPO = Path(__file__).resolve().parents[1]

# BG201: `time.sleep` in an async task; the fix awaits `asyncio.sleep` and adds the import
TASK = """\
import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def job_{n}(item: str) -> None:
    time.sleep({n})
    print(item)


@app.post("/items/{n}")
async def start_{n}(item: str, tasks: BackgroundTasks):
    tasks.add_task(job_{n}, item)
"""
FILES = 8


def make_tree(root: Path) -> Dict[str, bytes]:
    (root / "pyproject.toml").write_text('[tool.bglint]\nselect = ["BG201"]\n', encoding="utf-8")
    originals = {}
    for n in range(FILES):
        folder = root / ("pkg" if n % 2 else "")
        folder.mkdir(exist_ok=True)
        path = folder / f"mod_{n}.py"
        data = TASK.format(n=n + 1).encode()
        if n == 3:
            data = data.replace(b"\n", b"\r\n")  # line endings must survive the race too
        path.write_bytes(data)
        originals[path.relative_to(root).as_posix()] = data
    return originals


def snapshot(root: Path) -> Dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.py"))}


def bglint(root: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "bglint", "check", *args, "."],
        cwd=str(root),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(procs: List[subprocess.Popen]) -> List[str]:
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("bglint --fix did not finish in 120 s")
        text = out.decode() + err.decode()
        assert "Traceback" not in text, text
        assert proc.returncode in (0, 1), text
        outputs.append(text)
    return outputs


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, bytes]:
    root = tmp_path_factory.mktemp("expected")
    make_tree(root)
    finish([bglint(root, "--fix")])
    return snapshot(root)


@pytest.mark.parametrize("attempt", range(2))
def test_two_fix_runs_at_once_leave_each_file_fixed_or_original(tmp_path: Path, expected: Dict[str, bytes], attempt: int) -> None:
    originals = make_tree(tmp_path)
    assert all(expected[name] != data for name, data in originals.items())  # every file has a fix
    finish([bglint(tmp_path, "--fix"), bglint(tmp_path, "--fix")])
    for name, data in snapshot(tmp_path).items():
        assert data in (originals[name], expected[name]), f"{name} is neither original nor fixed:\n{data!r}"
    assert not list(tmp_path.rglob("*.bglint-tmp")), "a temporary file was left behind"
    finish([bglint(tmp_path, "--fix")])
    assert snapshot(tmp_path) == expected


def test_fix_running_while_the_tree_is_being_fixed_again(tmp_path: Path, expected: Dict[str, bytes]) -> None:
    # a third run starting once the first two are under way still finds only whole files
    originals = make_tree(tmp_path)
    first = [bglint(tmp_path, "--fix"), bglint(tmp_path, "--fix")]
    third = bglint(tmp_path, "--fix")
    finish([*first, third])
    for name, data in snapshot(tmp_path).items():
        assert data in (originals[name], expected[name])
    finish([bglint(tmp_path, "--fix")])
    assert snapshot(tmp_path) == expected


# -- interrupted writes, in-process ------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, bytes]:
    monkeypatch.chdir(tmp_path)
    return make_tree(tmp_path)


def _fail_on(name: str, error: BaseException, monkeypatch: pytest.MonkeyPatch, after: int = 0) -> List[int]:
    """Make ``os.<name>`` raise ``error`` from its ``after``-th call on; returns the call counter."""
    real = getattr(os, name)
    calls = [0]

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] > after:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, failing)
    return calls


@pytest.mark.parametrize("name", ["replace", "fsync"])
def test_failed_write_keeps_the_old_file_and_is_reported(tree: Dict[str, bytes], expected: Dict[str, bytes], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the third write fails: two files are fixed, the rest keep their old content, nothing crashes
    _fail_on(name, OSError(28, "No space left on device"), monkeypatch, after=2)
    result = runner().invoke(main, ["check", "--fix", "--output-format", "concise", "."])
    assert not isinstance(result.exception, OSError), result.exception
    assert "Traceback" not in result.output
    assert result.stderr.count("error: cannot write the fixes: No space left on device") == FILES - 2
    assert result.exit_code == 1  # the unfixed files' findings are still reported
    now = snapshot(Path.cwd())
    assert sum(now[n] == expected[n] for n in now) == 2
    assert sum(now[n] == tree[n] for n in now) == FILES - 2
    root = Path.cwd()
    assert not list(root.rglob("*.bglint-tmp"))
    monkeypatch.undo()  # the disk works again: the next run finishes the job
    monkeypatch.chdir(root)
    assert runner().invoke(main, ["check", "--fix", "."]).exit_code == 0
    assert snapshot(Path.cwd()) == expected


@pytest.mark.parametrize("name", ["replace", "fsync"])
def test_interrupted_write_leaves_old_content_and_no_temp_file(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.py"
    target.write_bytes(b"old = 1\n")
    _fail_on(name, KeyboardInterrupt(), monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        sources.write_atomic(target, b"new = 2\n")
    assert target.read_bytes() == b"old = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.py"]


def test_readers_during_writes_see_old_or_new_never_half(tmp_path: Path) -> None:
    target = tmp_path / "f.py"
    old, new = b"a = 1\n" * 20000, b"b = 2\n" * 30000
    target.write_bytes(old)
    seen: List[bytes] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(target.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            sources.write_atomic(target, new if i % 2 == 0 else old)
    finally:
        stop.set()
        thread.join()
    assert seen and all(data in (old, new) for data in seen)


def test_fix_through_a_symlink_keeps_the_link(tmp_path: Path, expected: Dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    # regression: --fix used to replace a symlinked file by a fixed copy, leaving the real file unfixed
    make_tree(tmp_path)
    real = tmp_path / "shared" / "real.py"
    real.parent.mkdir()
    shutil.move(str(tmp_path / "mod_0.py"), str(real))
    os.symlink(os.path.join("shared", "real.py"), tmp_path / "mod_0.py")
    monkeypatch.chdir(tmp_path)
    result = runner().invoke(main, ["check", "--fix", "mod_0.py"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mod_0.py").is_symlink()
    assert real.read_bytes() == expected["mod_0.py"]
