"""The rule records are the single source of truth: check they are complete and truthful."""

from __future__ import annotations

import pkgutil
import re

import pytest

import bglint.rules
from bglint import docs
from bglint.config import RawConfig, build_settings
from bglint.engine import lint_source
from bglint.model import Rule
from bglint.rules import ALL_CODES, ALL_RULES, DEFAULT_CODES, FAMILIES


def _settings(code: str):
    return build_settings(RawConfig({"select": [code]}), ALL_CODES, DEFAULT_CODES)


def test_every_family_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules(bglint.rules.__path__)}
    registered = {f.__name__.rsplit(".", 1)[1] for f in FAMILIES}
    assert modules == registered


@pytest.mark.parametrize("rule", ALL_RULES, ids=[r.code for r in ALL_RULES])
def test_rule_record(rule: Rule) -> None:
    assert re.fullmatch(r"BG[1-5]\d\d", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    assert rule.summary and not rule.summary.endswith(".")
    assert rule.message and not rule.message.endswith(".")
    assert rule.why.strip() and rule.bad.strip() and rule.good.strip()
    assert rule.site_checks or rule.module_checks or rule.task_checks, f"{rule.code} has no check"
    family = __import__(f"bglint.rules.{_family_of(rule)}", fromlist=["_"])
    assert rule.code in (family.__doc__ or ""), f"{rule.code} missing from its family docstring"


def _family_of(rule: Rule) -> str:
    for fam in FAMILIES:
        if rule in vars(fam).values():
            return fam.__name__.rsplit(".", 1)[1]
    raise AssertionError(rule.code)


@pytest.mark.parametrize("rule", ALL_RULES, ids=[r.code for r in ALL_RULES])
def test_bad_example_fires_and_good_example_is_clean(rule: Rule, tmp_path) -> None:
    bad = lint_source(rule.bad, str(tmp_path / "bad_example.py"), _settings(rule.code))
    assert bad and {f.code for f in bad} == {rule.code}, bad
    good = lint_source(rule.good, str(tmp_path / "good_example.py"), _settings(rule.code))
    assert good == []


def test_docs_are_up_to_date() -> None:
    current = docs.DOCS_PATH.read_text(encoding="utf-8")
    assert current == docs.render_all(ALL_RULES), "docs/rules.md is stale: run `python -m bglint.docs --write`"


def test_bg5_is_off_by_default() -> None:
    for rule in ALL_RULES:
        assert rule.default_enabled == (not rule.code.startswith("BG5")), rule.code


def test_the_light_code_list_is_up_to_date() -> None:
    assert docs.CODES_PATH.read_text(encoding="utf-8") == docs.render_codes(ALL_RULES), "run `python -m bglint.docs --write`"
