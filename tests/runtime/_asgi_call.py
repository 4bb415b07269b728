"""Drive an ASGI app by hand, so a test sees what the client got *and* what happened after.

``TestClient`` either re-raises a background task's exception (and the response is lost) or swallows
it. Calling the app directly keeps both: the messages sent to the client, in order, and the exception
the app raised to the server once the response was already out (what uvicorn logs as
"Exception in ASGI application").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Exchange:
    """What one HTTP request through the app produced."""

    status: int | None = None
    body: bytes = b""
    error: BaseException | None = None  # raised by the app to the server, after or instead of a response
    messages: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


async def call_app(
    app: Any,
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    on_response_start: Callable[[int], None] | None = None,
) -> Exchange:
    """Send one HTTP request to ``app`` and return what it sent and raised.

    ``on_response_start(status)`` is called when the status line goes out, so a test can put the
    moment the client gets its answer into the same log the example's tasks write to.
    """
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    exchange = Exchange()
    request_sent = False
    disconnect = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        exchange.messages.append(message)
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            if on_response_start is not None:
                on_response_start(message["status"])
        elif message["type"] == "http.response.body":
            exchange.body += message.get("body", b"")

    try:
        await app(scope, receive, send)
    except Exception as exc:  # the server would log it; the test inspects it
        exchange.error = exc
    finally:
        disconnect.set()
    return exchange


def request(app: Any, method: str, path: str, **kwargs: Any) -> Exchange:
    """Synchronous wrapper: one request on a fresh event loop."""
    return asyncio.run(call_app(app, method, path, **kwargs))
