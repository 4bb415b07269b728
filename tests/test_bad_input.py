"""Bad input never stops a run: each file gets a clear error, every other file is still checked,
and the exit code separates "findings" (1) from "bglint could not check something" (2)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests._cli import runner

from bglint import sources
from bglint.cli import main

BAD_TASK = """\
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send(to: str) -> None:
    print(to)


@app.post("/")
def ep(to: str, tasks: BackgroundTasks):
    tasks.add_task(send(to))
"""


def run(*args: str):
    return runner().invoke(main, ["check", "--output-format", "concise", *args])


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.py").write_text(BAD_TASK)
    return tmp_path


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("syntax.py", b"from fastapi import BackgroundTasks\ndef f(t: BackgroundTasks):\n    t.add_task(\n", "syntax error"),
        ("nul.py", b"x = 1\x00\nadd_task\n", "NUL bytes"),
        ("undecodable.py", b"# add_task\nx = '\xff\xfe'\n", "not valid UTF-8"),
        ("bad_cookie.py", b"# -*- coding: no-such-codec -*-\nadd_task = 1\n", "cannot decode"),
        ("deep.py", ("add_task = " + "(" * 300 + "1" + ")" * 300 + "\n").encode(), "too deeply nested"),
        ("deeper.py", ("add_task = " + "[" * 5000 + "]" * 5000 + "\n").encode(), "too deeply nested"),
    ],
)
def test_bad_file_is_reported_and_the_rest_is_checked(tree: Path, name: str, content: bytes, message: str) -> None:
    (tree / name).write_bytes(content)
    result = run(".")
    assert result.exit_code == 1  # the good file's finding wins over the bad file
    assert "good.py:12:20: BG301" in result.stdout
    assert f"{name}: error: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_only_bad_files_exit_2(tree: Path) -> None:
    (tree / "good.py").unlink()
    (tree / "nul.py").write_bytes(b"add_task\x00")
    result = run(".")
    assert result.exit_code == 2
    assert "nul.py: error: source contains NUL bytes" in result.stderr


def test_long_operator_chain_is_analysed(tree: Path) -> None:
    # thousands of `+` in one expression exceed Python's default recursion limit inside libcst
    (tree / "chain.py").write_text("add_task = " + " + ".join(["1"] * 1500) + "\n")
    result = run(".")
    assert result.exit_code == 1, result.output
    assert "chain.py" not in result.stderr


def test_a_chain_cpython_cannot_compile_is_refused_at_once(tree: Path) -> None:
    """libcst's parser takes time quadratic in a chain's length (20,000 `+`: 4 minutes); what
    CPython's own parser refuses (3.11-3.12: about 3,000 levels; 3.13: more) is refused, and so
    is a tree more than 3,000 levels deep on 3.9 and 3.10, which build one of any depth."""
    (tree / "chain.py").write_text("from fastapi import BackgroundTasks\n\n\ndef f(t: BackgroundTasks):\n    t.add_task(print, 1" + " + 1" * 20000 + ")\n")
    result = run(".")
    assert result.exit_code == 1  # good.py's finding
    assert "chain.py: error: too deeply nested to analyse" in result.stderr


def test_empty_file_encodings_and_bom(tree: Path) -> None:
    (tree / "empty.py").write_bytes(b"")
    (tree / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\n" + BAD_TASK.replace("print(to)", "print('caf\xe9', to)").encode("latin-1"))
    (tree / "bom.py").write_bytes(b"\xef\xbb\xbf" + BAD_TASK.encode())
    result = run(".")
    assert result.exit_code == 1
    assert "latin.py:13:20: BG301" in result.stdout  # the cookie line shifts it by one
    assert "bom.py:12:20: BG301" in result.stdout  # the BOM does not shift columns
    assert result.stderr == ""


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_the_coding_declaration_is_read_from_the_first_two_lines_as_python_ends_them(newline: bytes) -> None:
    """As CPython does: a "coding:" further down is a comment (in a file ended by lone ``\\r``,
    ``BytesIO.readline`` took the whole file for its first line), one on line 2 is the declaration."""
    later = newline.join([b"x = 1", b"y = 2", b"# its encoding: major*10000 + minor", b"s = 'caf\xc3\xa9'", b""])
    compile(later, "later.py", "exec")
    assert sources.decode(later).text == later.decode("utf-8")
    declared = newline.join([b"#!/usr/bin/env python", b"# -*- coding: latin-1 -*-", b"s = 'caf\xe9'", b""])
    assert {"s": "caf\xe9"}.items() <= _run(declared).items()
    found = sources.decode(declared)
    assert (found.encoding, found.text) == ("iso-8859-1", declared.decode("latin-1"))


def _run(code: bytes) -> dict:
    names: dict = {}
    exec(compile(code, "declared.py", "exec"), names)
    return names


def test_missing_path_directory_named_py_symlink_loop_and_duplicates(tree: Path) -> None:
    (tree / "pkg.py").mkdir()
    (tree / "pkg.py" / "inner.py").write_text(BAD_TASK)
    os.symlink("loop", tree / "loop")
    os.symlink(str(tree), tree / "self_link")  # a directory link back up must not be followed
    result = run("good.py", "good.py", "./good.py", "missing.py", "loop", ".")
    assert "missing.py: error: no such file or directory" in result.stderr
    assert "loop: error: not a regular file" in result.stderr
    assert result.stdout.count("good.py:12:20: BG301") == 1
    assert "pkg.py/inner.py:12:20: BG301" in result.stdout
    assert result.exit_code == 1


def test_unreadable_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "secret.py").write_text(BAD_TASK)
    real = open

    def opening(file: object, *args: object, **kwargs: object) -> object:  # root reads a mode-000 file
        if str(file).endswith("secret.py"):
            raise PermissionError(13, "Permission denied")
        return real(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(sources, "open", opening, raising=False)
    result = run(".")
    assert "secret.py: error: permission denied" in result.stderr
    assert "good.py:12:20: BG301" in result.stdout
    assert result.exit_code == 1


def test_internal_error_is_reported_per_file_and_exits_2(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bglint.rules import handoff

    (tree / "other.py").write_text(BAD_TASK)

    def boom(site, ctx):  # type: ignore[no-untyped-def]
        if ctx.module.path.endswith("other.py"):
            raise ValueError("simulated bug")
        return iter(())

    checks = handoff.AWAITED_ADD_TASK.site_checks
    saved = list(checks)
    checks[:] = [boom]
    try:
        result = run(".")
    finally:
        checks[:] = saved
    assert "other.py: error: internal error in bglint: BG302: ValueError: simulated bug" in result.stderr
    assert "good.py:12:20: BG301" in result.stdout
    assert result.exit_code == 2


def test_atomic_write_leaves_old_or_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.py"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o640)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        sources.write_atomic(target, b"new\n")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.py"]  # no temporary file left behind
    monkeypatch.undo()
    sources.write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert (target.stat().st_mode & 0o777) == 0o640


@pytest.mark.parametrize("flag", ["always", "error"])
def test_the_parsers_warnings_about_the_code_are_not_printed(tmp_path: Path, flag: str) -> None:
    """An invalid escape sequence (a SyntaxWarning from Python 3.12, a DeprecationWarning
    before) prints nothing and changes nothing, even when Python is told to show or raise every
    warning."""
    import subprocess

    code = BAD_TASK.replace("print(to)", 'print(to, "\\d")').replace("tasks.add_task(send(to))", 'tasks.add_task(send(to))\n    x = "\\w"')
    (tmp_path / "app.py").write_text(code)
    assert '"\\d"' in code
    done = subprocess.run(
        [sys.executable, "-W", flag, "-m", "bglint", "check", "--no-cache", "--output-format", "concise", "app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (1, "")
    assert [line.split(" ")[1] for line in done.stdout.splitlines()] == ["BG301"]


def test_a_file_too_big_is_reported_unread_and_the_rest_is_checked(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over sources.MAX_FILE_BYTES is refused before it is read (libcst would need about
    0.45 GB per MB of it); the limit is lowered here instead of writing megabytes."""
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 2000)
    big = BAD_TASK + "".join(f"x{i} = {i}\n" for i in range(300))
    (tree / "big.py").write_text(big)
    assert len(big.encode()) > 2000 >= len(BAD_TASK.encode())
    result = run(".")
    assert result.exit_code == 1  # the good file's finding wins
    assert result.stdout.splitlines() == ["good.py:12:20: BG301 `send(...)` runs during the request; pass `send` and its arguments to `add_task`"]
    assert f"big.py: error: too big to analyse ({len(big.encode()) / 1e6:.1f} MB; bglint reads files of up to 0.002 MB" in result.stderr
    result = run("big.py")
    assert result.exit_code == 2 and "too big to analyse" in result.stderr
