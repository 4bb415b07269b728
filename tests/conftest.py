from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-fixes", action="store_true", help="rewrite tests/fixtures/fixes/*.fixed.py from the fixer's output")
