"""The rule registry. Every family module is imported here explicitly (a test checks none is missing)."""

from __future__ import annotations

from typing import Dict, List, Tuple

from bglint.model import Rule
from bglint.rules import blocking, deployment, handoff, lifecycle, security

FAMILIES = (lifecycle, blocking, handoff, security, deployment)


def _collect() -> Tuple[Rule, ...]:
    found: List[Rule] = []
    for family in FAMILIES:
        found.extend(v for v in vars(family).values() if isinstance(v, Rule))
    found.sort(key=lambda r: r.code)
    codes = [r.code for r in found]
    assert len(codes) == len(set(codes)), f"duplicate rule codes: {codes}"
    return tuple(found)


ALL_RULES: Tuple[Rule, ...] = _collect()
BY_CODE: Dict[str, Rule] = {r.code: r for r in ALL_RULES}
ALL_CODES: Tuple[str, ...] = tuple(BY_CODE)
DEFAULT_CODES: Tuple[str, ...] = tuple(r.code for r in ALL_RULES if r.default_enabled)


def get(code: str) -> Rule:
    return BY_CODE[code.upper()]
