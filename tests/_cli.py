"""click's test runner with stdout and stderr kept apart on every click version we support."""

from __future__ import annotations

from click.testing import CliRunner


def runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        return CliRunner()  # click >= 8.2 always separates them
