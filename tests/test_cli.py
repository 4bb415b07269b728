"""The command line through click's runner, one real subprocess, and the README's reference."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bglint import __version__
from bglint.cli import main
from bglint.config import KEYS
from bglint.rules import ALL_RULES, BY_CODE

REPO = Path(__file__).resolve().parents[1]

BAD = """\
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send(to: str) -> None:
    print(to)


@app.post("/a")
async def view(to: str, tasks: BackgroundTasks):
    await tasks.add_task(send, to)
    tasks.add_task(send(to))
    await tasks.add_task(send, "x")
"""
FIXED = BAD.replace("await tasks.add_task", "tasks.add_task").replace("tasks.add_task(send(to))", "tasks.add_task(send, to)")


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "app.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "pkg" / "clean.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def test_exit_1_with_findings_and_paths_relative_to_cwd(project: Path) -> None:
    result = run("check", "--output-format", "concise", str(project / "pkg"))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "pkg/app.py:12:5: BG302 " + BY_CODE["BG302"].message
    assert lines[1].startswith("pkg/app.py:13:20: BG301 `send(...)` runs during the request")
    assert lines[2] == "pkg/app.py:14:5: BG302 " + BY_CODE["BG302"].message
    assert len(lines) == 3


def test_exit_0_when_clean(project: Path) -> None:
    result = run("check", "pkg/clean.py")
    assert result.exit_code == 0 and result.output == ""


def test_exit_zero(project: Path) -> None:
    result = run("check", "--exit-zero", "pkg")
    assert result.exit_code == 0 and "BG302" in result.output


def test_default_path_is_the_current_folder(project: Path) -> None:
    result = run("check", "--output-format", "concise")
    assert result.exit_code == 1 and result.output.startswith("pkg/app.py:12:5: BG302")


def test_unknown_code_in_select_exits_2_without_traceback(project: Path) -> None:
    result = run("check", "--select", "BG301,XX9", "pkg")
    assert result.exit_code == 2
    assert "unknown rule code or prefix `XX9` in --select" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_config_key_exits_2_naming_the_key(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.bglint]\nselectt = ['BG3']\n", encoding="utf-8")
    result = run("check", "pkg")
    assert result.exit_code == 2
    assert "unknown key `selectt`" in result.output and "Traceback" not in result.output


def test_bad_config_value_exits_2(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.bglint]\nmax-call-depth = 'deep'\n", encoding="utf-8")
    result = run("check", "pkg")
    assert result.exit_code == 2 and "`max-call-depth`" in result.output


def test_missing_path_exits_2(project: Path) -> None:
    result = run("check", "nope.py")
    assert result.exit_code == 2 and "nope.py: error: no such file or directory" in result.output


def test_syntax_error_exits_2_unless_there_are_findings(project: Path) -> None:
    # (a file without any hand-off word is never parsed: the prefilter skips it)
    (project / "broken.py").write_text("def f(:\n    tasks.add_task(f)\n", encoding="utf-8")
    only_broken = run("check", "broken.py")
    assert only_broken.exit_code == 2 and "broken.py: error: syntax error" in only_broken.output
    assert run("check", "broken.py", "pkg").exit_code == 1


def test_statistics(project: Path) -> None:
    result = run("check", "--statistics", "pkg")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"    2  BG302  [*] {BY_CODE['BG302'].name}",
        f"    1  BG301  [*] {BY_CODE['BG301'].name}",
        "Found 3 findings.",
    ]


def test_select_and_ignore(project: Path) -> None:
    only = run("check", "--output-format", "concise", "--select", "BG301", "pkg")
    assert [line.split()[1] for line in only.output.splitlines()] == ["BG301"]
    ignored = run("check", "--output-format", "concise", "--ignore", "BG30", "pkg")
    assert ignored.exit_code == 0 and ignored.output == ""


def test_diff_exits_1_and_writes_nothing(project: Path) -> None:
    result = run("check", "--diff", "pkg")
    assert result.exit_code == 1
    assert result.output.startswith("--- a/pkg/app.py\n+++ b/pkg/app.py\n")
    assert "-    await tasks.add_task(send, to)\n" in result.output
    assert "+    tasks.add_task(send, to)\n+    tasks.add_task(send, to)\n" in result.output
    assert (project / "pkg" / "app.py").read_text(encoding="utf-8") == BAD
    assert run("check", "--diff", "pkg/clean.py").exit_code == 0


def test_fix_writes_and_reports(project: Path) -> None:
    result = run("check", "--fix", "--show-fixes", "pkg")
    assert (project / "pkg" / "app.py").read_text(encoding="utf-8") == FIXED
    assert "Fixed 3 findings in 1 file(s)." in result.output
    assert result.exit_code == 0
    assert run("check", "pkg").exit_code == 0


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_rule_command() -> None:
    result = run("rule", "bg301")
    assert result.exit_code == 0
    assert result.output.startswith(f"# BG301 {BY_CODE['BG301'].name}")
    assert BY_CODE["BG301"].summary in result.output


def test_unknown_rule_exits_2() -> None:
    result = run("rule", "BG999")
    assert result.exit_code == 2 and "unknown rule `BG999`" in result.output


def test_rules_json() -> None:
    result = run("rules", "--output-format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert [d["code"] for d in data] == [r.code for r in ALL_RULES]
    for d, r in zip(data, ALL_RULES):
        assert d == {
            "code": r.code,
            "name": r.name,
            "summary": r.summary,
            "severity": r.severity.value,
            "default_enabled": r.default_enabled,
            "fix": r.fix.value if r.fix else None,
            "url": r.url,
        }


def test_rules_text_lists_every_rule() -> None:
    result = run("rules")
    assert [line.split()[0] for line in result.output.splitlines()] == [r.code for r in ALL_RULES]


def test_python_dash_m_bglint(project: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "bglint", "check", "--output-format", "concise", "pkg"],
        cwd=str(project),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == "pkg/app.py:12:5: BG302 " + BY_CODE["BG302"].message
    assert result.stderr == ""


def test_the_command_leaves_with_its_status_and_all_its_output(project: Path) -> None:
    """``python -m bglint`` (as the console script) ends the process without tearing the
    interpreter down: its status and every byte of its output must still come out."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PYTHONUNBUFFERED", None)  # output to a pipe is buffered, as it is for most users
    many = "".join(f"@app.post('/p{i}')\nasync def ep{i}(tasks: BackgroundTasks):\n    tasks.add_task(work())\n" for i in range(300))
    (project / "many.py").write_text("from fastapi import BackgroundTasks, FastAPI\napp = FastAPI()\ndef work(): pass\n" + many)

    def bglint(*args: str) -> "subprocess.CompletedProcess[str]":
        return subprocess.run([sys.executable, "-m", "bglint", *args], cwd=str(project), capture_output=True, text=True, env=env, timeout=120)

    found = bglint("check", "--no-cache", "--output-format", "json", "many.py")
    assert found.returncode == 1 and len(json.loads(found.stdout)) == 300  # the whole report (~150 KB)
    assert bglint("check", "--no-cache", "--exit-zero", "many.py").returncode == 0
    small = bglint("check", "--no-cache", "--output-format", "concise", "pkg")  # a report smaller than a buffer
    assert small.returncode == 1 and small.stdout.splitlines()[0] == "pkg/app.py:12:5: BG302 " + BY_CODE["BG302"].message
    bad = bglint("check", "--select", "BGX", "many.py")
    assert bad.returncode == 2 and bad.stderr == "bglint: error: unknown rule code or prefix `BGX` in --select\n"
    assert bglint("nonsense").returncode == 2
    version = bglint("--version")
    assert version.returncode == 0 and version.stdout == f"bglint, version {__version__}\n"


def test_readme_configuration_reference_matches_the_keys() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (.*) \|$", readme, re.MULTILINE)
    assert dict(rows) == KEYS, "regenerate the table under README's Configuration from bglint.config.KEYS"


def test_readme_keeps_the_set_up_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/bglint check examples/" in readme
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest" in readme


def test_readme_usage_sections() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for heading in ("### Command line", "### flake8", "### pre-commit", "### Fixing", "## Configuration"):
        assert heading in readme
    for fmt in ("json", "sarif", "github", "concise"):
        assert f"`{fmt}`" in readme
