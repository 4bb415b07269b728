"""BG401 on the installed FastAPI: a config secret passed as a task argument is copied wherever task
arguments are kept, shown for the rule's examples with a task that fails (the moment an error tracker
captures frames; the examples' `print` is followed by a raised ConnectionError):

- the hand-off keeps the arguments (`BackgroundTask.args`); serialised as a queue message would be
  (Celery/RQ/arq put args in the broker) they hold the secret in plain text;
- `traceback.TracebackException(..., capture_locals=True)`, what local-capturing error trackers do,
  finds it in the task's frame *and* in Starlette's `run_in_threadpool` frame under `func`/`args`,
  names that a name-based scrubber (Sentry's default denylist: password, secret, api_key, token, ...)
  does not match.

GOOD reads the secret inside the task: it is in no hand-off argument and no frame argument. Honest
limit: GOOD keeps it in the local `smtp_password`, so captured locals still show it there, under a
name a denylist scrubs; BG401 removes only the copies that the hand-off itself creates.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest
from starlette.background import BackgroundTask

from bglint.rules import get
from tests.runtime._asgi_call import request
from tests.runtime._support import load_example

RULE = get("BG401")
SECRET = "sk_live_51Hx9dQ2eZvKYlo2C0FAKEFAKE"
NAME_BASED_DENYLIST = ("password", "passwd", "secret", "api_key", "apikey", "auth", "token", "credentials")
PRINT = 'print("login with", len(smtp_password), "chars, send to", to)'


@pytest.fixture(autouse=True)
def _smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", SECRET)


def _failing(source: str) -> str:
    assert PRINT in source
    return source.replace(PRINT, PRINT + '\n    raise ConnectionError("SMTP server unreachable")')


def _failed_task(source: str, tmp_path: Path) -> BaseException:
    example = load_example(_failing(source), tmp_path)
    exchange = request(example.app, "POST", "/signup", query="email=ann@example.com")
    assert exchange.status == 200  # the response went out ...
    assert isinstance(exchange.error, ConnectionError)  # ... then the task failed
    return exchange.error


def _hand_off(error: BaseException) -> BackgroundTask:
    """The `BackgroundTask` that ran, taken from the failing traceback's frames."""
    tb = error.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if type(candidate) is BackgroundTask:
            return candidate
        tb = tb.tb_next
    raise AssertionError("no BackgroundTask frame in the traceback")


def _frame_arguments(error: BaseException, function: str) -> Dict[str, object]:
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == function:
            names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            return {name: tb.tb_frame.f_locals[name] for name in names}
        tb = tb.tb_next
    raise AssertionError(f"{function} not in the traceback")


def _leaks(error: BaseException) -> Set[Tuple[str, str]]:
    """(file:function, local name) of every captured local whose repr holds the secret."""
    captured = traceback.TracebackException.from_exception(error, capture_locals=True)
    return {
        (f"{Path(frame.filename).name}:{frame.name}", name)
        for frame in captured.stack
        for name, value in (frame.locals or {}).items()
        if SECRET in value
    }


def _unscrubbed(leaks: Set[Tuple[str, str]]) -> Set[Tuple[str, str]]:
    return {(frame, name) for frame, name in leaks if not any(word in name for word in NAME_BASED_DENYLIST)}


def test_bad_example_secret_is_in_the_hand_off_and_in_unscrubbed_frames(tmp_path: Path) -> None:
    error = _failed_task(RULE.bad, tmp_path)
    task = _hand_off(error)
    assert SECRET in json.dumps({"task": task.func.__name__, "args": task.args})  # a queue message
    assert SECRET in _frame_arguments(error, "send_email").values()
    leaks = _leaks(error)
    assert any(frame.endswith(":send_email") and name == "smtp_password" for frame, name in leaks)
    # Starlette's own frame holds it under names no denylist of secret-sounding names matches
    assert {("concurrency.py:run_in_threadpool", "func"), ("concurrency.py:run_in_threadpool", "args")} <= _unscrubbed(leaks)


def test_good_example_secret_only_in_the_tasks_own_named_local(tmp_path: Path) -> None:
    error = _failed_task(RULE.good, tmp_path)
    task = _hand_off(error)
    assert SECRET not in json.dumps({"task": task.func.__name__, "args": task.args})
    assert SECRET not in _frame_arguments(error, "send_email").values()
    leaks = _leaks(error)
    assert {name for _, name in leaks} == {"smtp_password"}  # the task's local variable, nothing else
    assert _unscrubbed(leaks) == set()
