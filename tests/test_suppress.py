"""Suppression comments and ``per-file-ignores``, through the engine as users meet them."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from click.testing import CliRunner

from bglint import suppress
from bglint.cli import main
from bglint.config import RawConfig, build_settings
from bglint.engine import Engine, lint_source
from bglint.rules import ALL_CODES, DEFAULT_CODES

HEAD = """\
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send(to: str) -> None:
    print(to)


@app.post("/a")
async def view(to: str, tasks: BackgroundTasks):
"""
# line 12 is the first line of the body
CALLED = "    tasks.add_task(send(to)){comment}\n"
AWAITED = "    await tasks.add_task(send, to){comment}\n"


def _lint(tmp_path: Path, body: str, config: Optional[Dict[str, object]] = None, use_noqa: bool = True) -> List[Tuple[int, str]]:
    path = tmp_path / "app.py"
    path.write_text(HEAD + body, encoding="utf-8")
    settings = build_settings(RawConfig(dict(config or {}), tmp_path / "bglint.toml"), ALL_CODES, DEFAULT_CODES)
    report = Engine(settings, use_noqa=use_noqa).check([path])
    assert not report.errors
    return [(f.line, f.code) for f in report.findings]


def test_unsuppressed_baseline(tmp_path: Path) -> None:
    body = CALLED.format(comment="") + AWAITED.format(comment="")
    assert _lint(tmp_path, body) == [(12, "BG301"), (13, "BG302")]


@pytest.mark.parametrize(
    "comment",
    [
        "  # noqa",
        "  # noqa: BG301",
        "  # noqa:BG301",
        "  # NOQA: bg301",
        "  # noqa: BG302,BG301",
        "  # noqa: BG302, BG301",
        "  # noqa:BG3",
        "  # noqa: BG",  # no digits: flake8 reads this as a blanket `# noqa`, so does bglint
        "  # noqa: BG30 1",  # `BG30` is a prefix of BG301
        "  # noqa: BG301 the factory is wrapped elsewhere",
        "  # bglint: ignore",
        "  # bglint: ignore[BG301]",
        "  # bglint: ignore[BG302, BG301]",
        "  # type: ignore  # noqa: BG301",
    ],
)
def test_comment_suppresses_the_line(tmp_path: Path, comment: str) -> None:
    body = CALLED.format(comment=comment) + AWAITED.format(comment="")
    assert _lint(tmp_path, body) == [(13, "BG302")]


@pytest.mark.parametrize(
    "comment",
    ["  # noqa: BG302", "  # noqa: E501", "  # noqa:E501,W291", "  # bglint: ignore[BG302]", "  # bglint: ignore[BG1]"],
)
def test_comment_for_other_codes_does_not_suppress(tmp_path: Path, comment: str) -> None:
    body = CALLED.format(comment=comment)
    assert _lint(tmp_path, body) == [(12, "BG301")]


def test_comment_on_the_first_line_of_a_multi_line_statement(tmp_path: Path) -> None:
    body = "    tasks.add_task(  # noqa: BG301\n        send(\n            to,\n        ),\n    )\n"
    assert _lint(tmp_path, body) == []
    plain = body.replace("  # noqa: BG301", "")
    assert _lint(tmp_path, plain) == [(13, "BG301")]


def test_comment_on_the_reported_line_inside_a_multi_line_statement(tmp_path: Path) -> None:
    body = "    tasks.add_task(\n        send(to),  # bglint: ignore[BG301]\n    )\n"
    assert _lint(tmp_path, body) == []


def test_comment_on_another_line_does_not_suppress(tmp_path: Path) -> None:
    body = "    # noqa: BG301\n" + CALLED.format(comment="")
    assert _lint(tmp_path, body) == [(13, "BG301")]


def test_noqa_inside_a_string_is_not_a_comment(tmp_path: Path) -> None:
    body = '    tasks.add_task(send("# noqa"))\n'
    assert _lint(tmp_path, body) == [(12, "BG301")]


def test_form_feed_does_not_shift_lines(tmp_path: Path) -> None:
    # a form feed in a string is not a line break to Python: the comment still sits on line 13
    note = '    note = "a\x0cb"\n'
    body = note + CALLED.format(comment="  # noqa: BG301") + AWAITED.format(comment="")
    assert _lint(tmp_path, body) == [(14, "BG302")]
    # and a noqa on the line after it does not reach the finding above
    body = note + CALLED.format(comment="") + AWAITED.format(comment="  # noqa: BG301")
    assert _lint(tmp_path, body) == [(13, "BG301"), (14, "BG302")]


def test_skip_file(tmp_path: Path) -> None:
    body = CALLED.format(comment="") + "    # bglint: skip-file\n"
    assert _lint(tmp_path, body) == []
    in_string = CALLED.format(comment="") + '    x = "# bglint: skip-file"\n'
    assert _lint(tmp_path, in_string) == [(12, "BG301")]


def test_noqa_can_be_left_to_another_tool(tmp_path: Path) -> None:
    body = CALLED.format(comment="  # noqa: BG301") + AWAITED.format(comment="  # bglint: ignore[BG302]")
    # the flake8 plugin leaves `# noqa` to flake8 and keeps honouring bglint's own comment
    assert _lint(tmp_path, body, use_noqa=False) == [(12, "BG301")]


@pytest.mark.parametrize(
    ("pattern", "codes", "expected"),
    [
        ("app.py", ["BG301"], [(13, "BG302")]),
        ("*.py", ["BG3"], []),
        ("other.py", ["BG301"], [(12, "BG301"), (13, "BG302")]),
    ],
)
def test_per_file_ignores(tmp_path: Path, pattern: str, codes: List[str], expected: List[Tuple[int, str]]) -> None:
    body = CALLED.format(comment="") + AWAITED.format(comment="")
    assert _lint(tmp_path, body, {"per-file-ignores": {pattern: codes}}) == expected


def test_per_file_ignores_with_a_folder_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "app.py").write_text(HEAD + CALLED.format(comment=""), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.bglint]\nper-file-ignores = { "pkg/*" = ["BG301"] }\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "pkg"])
    assert result.exit_code == 0, result.output
    (tmp_path / "pyproject.toml").write_text('[tool.bglint]\nper-file-ignores = { "other/*" = ["BG301"] }\n', encoding="utf-8")
    assert CliRunner().invoke(main, ["check", "pkg"]).exit_code == 1


def test_per_file_ignores_rejects_unknown_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.bglint]\nper-file-ignores = { "*.py" = ["XX9"] }\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "."])
    assert result.exit_code == 2
    assert "XX9" in result.output and "Traceback" not in result.output


def test_lint_source_honours_comments(tmp_path: Path) -> None:
    settings = build_settings(RawConfig(), ALL_CODES, DEFAULT_CODES, root=tmp_path)
    text = HEAD + CALLED.format(comment="  # noqa: BG301")
    assert lint_source(text, str(tmp_path / "x.py"), settings) == []


def test_parse_tables() -> None:
    sup = suppress.parse("a = 1  # noqa\nb = 2  # noqa: BG101,bg2\nc = 3  # bglint: ignore[BG4]\n")
    assert sup.noqa == {1: suppress.ALL, 2: frozenset({"BG101", "BG2"})}
    assert sup.ignore == {3: frozenset({"BG4"})}
    assert not sup.skip_file
