"""Every rule fixture: the findings must be exactly the inline annotations (none for ok_ cases),
and rewriting each annotation into a suppression comment must silence it."""

from __future__ import annotations

from typing import Optional

import pytest

from bglint.engine import lint_source
from tests._fixtures import (
    FIXTURES as FIXTURES_ROOT,
    FixCase,
    FixtureCase,
    annotated,
    fix_cases,
    fixture_cases,
    header_of,
    lint_case,
    run_fix,
    settings_for,
)

CASES = fixture_cases()


@pytest.mark.parametrize("suppression", [None, "noqa", "bglint-ignore"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture(case: FixtureCase, suppression: Optional[str]) -> None:
    expected = [] if suppression else case.expected
    assert lint_case(case, case.with_suppression(suppression)) == expected


def test_ok_cases_have_no_annotations() -> None:
    for case in CASES:
        name = case.id.split("/", 1)[1]
        if name.startswith("ok_"):
            assert case.expected == [], f"{case.id} is an ok_ case but carries expectations"
        else:
            assert case.expected, f"{case.id} fires nothing: name it ok_* or annotate it"


def test_every_rule_has_bad_and_ok_fixtures() -> None:
    from bglint.rules import ALL_CODES

    for code in ALL_CODES:
        mine = [c for c in CASES if c.code == code]
        assert any(c.expected for c in mine), f"{code} has no fixture that fires"
        assert any(c.id.split("/", 1)[1].startswith("ok_") for c in mine), f"{code} has no ok_ fixture"


FIXES = fix_cases()


@pytest.mark.parametrize("case", FIXES, ids=[c.id for c in FIXES])
def test_fix(case: FixCase, request: pytest.FixtureRequest) -> None:
    fixed, report = run_fix(case)
    if request.config.getoption("--update-fixes"):
        case.after.write_text(fixed, encoding="utf-8")
    assert case.after.exists(), f"missing {case.after.name}: run pytest --update-fixes"
    assert fixed == case.after.read_text(encoding="utf-8")
    assert report.fixes and report.fixes[0].applied, "the fix case applied no fix"
    # the fixed file is a fixpoint: fixing again changes nothing ...
    again, _ = run_fix(case, fixed)
    assert again == fixed
    # ... and what still fires is only what the .fixed.py file announces
    settings = settings_for(case.code, header_of(fixed), case.before.parent)
    left = lint_source(fixed, str(case.before), settings)
    assert sorted((f.line, f.code) for f in left) == annotated(fixed)


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
@pytest.mark.parametrize("case", FIXES, ids=[c.id for c in FIXES])
def test_fix_keeps_the_line_ends(case: FixCase, newline: str) -> None:
    """The same fix in a file with Windows or old Mac line ends: the same result, in its ends
    (no bare ``\\n`` inserted; a position on a line after a lone ``\\r`` still found)."""
    before = case.before.read_text(encoding="utf-8").replace("\n", newline)
    fixed, report = run_fix(case, before)
    assert report.fixes and report.fixes[0].applied
    assert fixed == case.after.read_text(encoding="utf-8").replace("\n", newline)


@pytest.mark.parametrize(
    "binding",
    ["os: str = 'linux'", "tasks: BackgroundTasks"],  # a parameter of the endpoint / no other `os`
    ids=["os-parameter", "os-free"],
)
def test_bg403_basename_fix_only_where_os_is_free(binding: str) -> None:
    # the fix writes `os.path.basename(...)` in the endpoint: not where `os` is something else there
    params = f"file: UploadFile, tasks: BackgroundTasks, {binding}" if binding.startswith("os") else f"file: UploadFile, {binding}"
    text = (
        "from fastapi import BackgroundTasks, FastAPI, UploadFile\n\napp = FastAPI()\n\n\n"
        "def process(path: str) -> None:\n    print(path)\n\n\n"
        f"@app.post('/upload')\nasync def upload({params}):\n"
        "    tasks.add_task(process, f'/srv/uploads/{file.filename}')\n"
    )
    found = lint_source(text, "app.py", settings_for("BG403", {}, FIXTURES_ROOT))
    assert [f.code for f in found] == ["BG403"]
    assert (found[0].fix is None) == binding.startswith("os")
