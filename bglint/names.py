"""Qualified names of the framework objects bglint knows, and the aliases that mean the same thing.

FastAPI re-exports most of Starlette (``fastapi.BackgroundTasks`` is a subclass of
``starlette.background.BackgroundTasks``; ``fastapi.responses.JSONResponse`` *is* Starlette's), so
every name is first mapped to one canonical spelling and rules compare canonical names only.
"""

from __future__ import annotations

from typing import Optional

# Canonical name for each public spelling. Prefix rewrites handle whole modules.
_PREFIXES = (
    ("fastapi.responses.", "starlette.responses."),
    ("fastapi.background.", "starlette.background."),
    ("fastapi.concurrency.", "starlette.concurrency."),
    ("fastapi.requests.", "starlette.requests."),
    ("fastapi.websockets.", "starlette.websockets."),
    ("fastapi.param_functions.", "fastapi."),
)

_EXACT = {
    "fastapi.BackgroundTasks": "starlette.background.BackgroundTasks",
    "fastapi.Request": "starlette.requests.Request",
    "fastapi.WebSocket": "starlette.websockets.WebSocket",
    "fastapi.HTTPConnection": "starlette.requests.HTTPConnection",
    "fastapi.Response": "starlette.responses.Response",
    "fastapi.UploadFile": "starlette.datastructures.UploadFile",
    "fastapi.datastructures.UploadFile": "starlette.datastructures.UploadFile",
    "fastapi.HTTPException": "fastapi.exceptions.HTTPException",
    "fastapi.WebSocketException": "fastapi.exceptions.WebSocketException",
    "starlette.exceptions.HTTPException": "fastapi.exceptions.HTTPException",
    "starlette.status": "fastapi.status",
    "typing_extensions.Annotated": "typing.Annotated",
    "typing_extensions.Optional": "typing.Optional",
    "typing.Union": "typing.Union",
    "anyio.to_thread.run_sync": "anyio.to_thread.run_sync",
    "fastapi.params.Depends": "fastapi.Depends",
    "fastapi.params.Security": "fastapi.Security",
    "sqlmodel.Session": "sqlmodel.Session",
    "sqlmodel.orm.session.Session": "sqlmodel.Session",
    "sqlalchemy.orm.session.Session": "sqlalchemy.orm.Session",
    "sqlalchemy.ext.asyncio.session.AsyncSession": "sqlalchemy.ext.asyncio.AsyncSession",
}

BACKGROUND_TASKS = "starlette.background.BackgroundTasks"
BACKGROUND_TASK = "starlette.background.BackgroundTask"
REQUEST = "starlette.requests.Request"
WEBSOCKET = "starlette.websockets.WebSocket"
HTTP_CONNECTION = "starlette.requests.HTTPConnection"
UPLOAD_FILE = "starlette.datastructures.UploadFile"
DEPENDS = frozenset({"fastapi.Depends", "fastapi.Security"})
ANNOTATED = "typing.Annotated"
RESPONSE_MODULE = "starlette.responses."
HTTP_EXCEPTION = "fastapi.exceptions.HTTPException"
RUN_IN_THREADPOOL = "starlette.concurrency.run_in_threadpool"
FUNCTOOLS_PARTIAL = "functools.partial"

ROUTE_METHODS = frozenset(
    {"get", "post", "put", "delete", "patch", "options", "head", "trace", "api_route", "websocket", "route"}
)
APP_CLASSES = frozenset({"fastapi.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter", "fastapi.applications.FastAPI"})


def canonical(name: Optional[str]) -> Optional[str]:
    if name is None:
        return None
    exact = _EXACT.get(name)
    if exact is not None:
        return exact
    for prefix, replacement in _PREFIXES:
        if name.startswith(prefix):
            return canonical(replacement + name[len(prefix) :])
    return name


def is_response_class(name: Optional[str]) -> bool:
    """Any Starlette/FastAPI response class (they all accept ``background=``)."""
    return bool(name) and name.startswith(RESPONSE_MODULE) and name[len(RESPONSE_MODULE) :][:1].isupper()
