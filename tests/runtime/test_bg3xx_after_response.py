"""BG301/BG303/BG304 seen from the ASGI side (from runtime-rest): what the client got, in order, and
what the app raised to the server after the response. Main's test_bg3xx_handoff.py shows the rules'
examples under TestClient, which runs tasks before it returns and so cannot show the order.

- BG301: the "background" work of the bad example runs inside the request, before the response
  starts; the scheduled `None` then fails after it. A call that *returns* the task (a factory) is fine.
- BG303: a default argument binds the value when the lambda is made (must not fire).
- BG304: a missing argument and one too many fail like the unknown keyword: 200 for the client, a
  TypeError only the server sees.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List, Tuple

import pytest

from bglint.rules import get
from tests.runtime._asgi_call import Exchange, call_app, request
from tests.runtime._support import load_example

FACTORY = """
import functools

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send_email(to: str) -> None:
    print("sending to", to)


def sender_for(email: str):
    return functools.partial(send_email, email)


@app.post("/signup")
def signup(email: str, tasks: BackgroundTasks):
    tasks.add_task(sender_for(email))
"""


def _signup(source: str, tmp_path: Path) -> Tuple[List[str], Exchange]:
    """POST /signup; returns the log of sent e-mails and response starts, in order, and the exchange."""
    example = load_example(source, tmp_path)
    log: List[str] = []
    example.send_email = lambda to: log.append(f"send_email({to})")  # looked up when the endpoint runs
    exchange = asyncio.run(
        call_app(example.app, "POST", "/signup", query="email=ann@example.com", on_response_start=lambda status: log.append(f"response {status}"))
    )
    return log, exchange


def test_bg301_bad_example_works_before_the_response_then_fails(tmp_path: Path) -> None:
    log, exchange = _signup(get("BG301").bad, tmp_path)
    assert log == ["send_email(ann@example.com)", "response 200"]  # ran inside the request
    assert isinstance(exchange.error, TypeError)  # the scheduled None, after the response
    assert str(exchange.error) == "the first argument must be callable"


@pytest.mark.parametrize("source", [get("BG301").good, FACTORY], ids=["good", "factory-returns-task"])
def test_bg301_task_passed_or_built_by_a_factory_runs_after_the_response(source: str, tmp_path: Path) -> None:
    log, exchange = _signup(source, tmp_path)
    assert exchange.error is None
    assert log == ["response 200", "send_email(ann@example.com)"]


def test_bg303_lambda_with_a_default_argument_gets_each_value(tmp_path: Path) -> None:
    rule = get("BG303")
    assert "tasks.add_task(lambda: send_email(email))" in rule.bad
    source = rule.bad.replace("lambda: send_email(email)", "lambda email=email: send_email(email)")
    example = load_example(source, tmp_path)
    sent: List[str] = []
    example.send_email = sent.append
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    body = ('["' + '", "'.join(emails) + '"]').encode()
    exchange = request(example.app, "POST", "/newsletter", body=body, headers=[("content-type", "application/json")])
    assert (exchange.status, exchange.error) == (200, None)
    assert sent == emails


GOOD_CALL = 'tasks.add_task(send_email, email, subject="Welcome")'


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("tasks.add_task(send_email, email)", "send_email() missing 1 required positional argument: 'subject'"),
        ('tasks.add_task(send_email, email, "Welcome", True)', "send_email() takes 2 positional arguments but 3 were given"),
    ],
    ids=["missing", "too-many"],
)
def test_bg304_missing_or_extra_arguments_fail_after_a_200(call: str, message: str, tmp_path: Path) -> None:
    rule = get("BG304")
    assert GOOD_CALL in rule.good
    example = load_example(rule.good.replace(GOOD_CALL, call), tmp_path)
    example.print = lambda *args: None
    exchange = request(example.app, "POST", "/signup", query="email=ann@example.com")
    assert exchange.status == 200  # the client was told it worked
    assert isinstance(exchange.error, TypeError) and str(exchange.error) == message  # only the server sees this

