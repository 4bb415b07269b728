"""BG1xx: request lifecycle (objects that die with the request).

BG101 session-passed-to-task  a resource from a yield dependency is closed before the task runs
BG102 orm-instance-passed-to-task  an ORM object loaded through a closing session is read in the task
BG103 request-passed-to-task  the task reads the body of a request (or uses a WebSocket) that is over
BG104 upload-passed-to-task   an `UploadFile` is closed before the task reads it
BG105 add-task-after-yield    a dependency adds a task after its `yield`, when the tasks have already run
BG106 response-background-drops-tasks  a response's own `background=` replaces the injected tasks
BG107 tasks-never-attached    tasks added to a `BackgroundTasks` FastAPI never sees
BG108 raise-after-add-task    the endpoint raises after adding tasks: the error response drops them
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Set, Tuple

import libcst as cst

from bglint.config import Settings
from bglint.context import RuleContext
from bglint.facts import FunctionFacts, ModuleFacts
from bglint import names, sources
from bglint.handoffs import Mechanism, Origin, TaskArg, TaskSite, TaskTarget, awaited_in_request, iter_task_args
from bglint.model import Edit, Finding, Fix, Rule, Safety, Severity
from bglint.semantics import Dependency, ParamInfo, is_endpoint

_MAX_ALIAS_DEPTH = 6

SESSION_PASSED_TO_TASK = Rule(
    code="BG101",
    name="session-passed-to-task",
    severity=Severity.ERROR,
    summary="A session from a dependency with `yield` is handed to a background task",
    message="`{name}` comes from yield dependency `{dep}` and is closed before the task runs; open a session inside the task",
    why="""
        The code after `yield` in a dependency closes what it yielded. When that exit code runs
        before the background tasks, the task receives a closed session or connection: SQLAlchemy
        quietly opens a new transaction on it from another thread, objects loaded through it are
        detached, and the connection may never go back to the pool.

        When the exit code runs depends on FastAPI: before 0.106 it ran after the background
        tasks (the old, supported way to share a session); from 0.106 to 0.117 it ran before the
        response was sent, so before every task; since 0.118 it runs after the response and its
        tasks again, except for dependencies declared with `Depends(dep, scope="function")`
        (0.121), whose exit code runs as soon as the endpoint returns. The rule follows
        `target-fastapi` (or the project's pin): for a current FastAPI it fires for
        `scope="function"` dependencies, for 0.106 to 0.117 for every dependency with `yield`.
    """,
    bad="""
        from typing import Annotated

        from fastapi import BackgroundTasks, Depends, FastAPI
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session, sessionmaker

        engine = create_engine("sqlite://")
        SessionLocal = sessionmaker(bind=engine)
        app = FastAPI()
        events: list = []


        def get_db():
            db = SessionLocal()
            try:
                yield db
            finally:
                events.append("session closed")
                db.close()


        def audit(db: Session, user_id: int) -> None:
            events.append("task started")
            db.close()


        @app.post("/users/{user_id}/audit")
        def trigger(user_id: int, tasks: BackgroundTasks, db: Annotated[Session, Depends(get_db, scope="function")]):
            tasks.add_task(audit, db, user_id)
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker

        engine = create_engine("sqlite://")
        SessionLocal = sessionmaker(bind=engine)
        app = FastAPI()
        events: list = []


        def audit(user_id: int) -> None:
            events.append("task started")
            with SessionLocal() as db:
                events.append("session opened in task")
            events.append("session closed")


        @app.post("/users/{user_id}/audit")
        def trigger(user_id: int, tasks: BackgroundTasks):
            tasks.add_task(audit, user_id)
    """,
    options=("target-fastapi", "session-types"),
    references=(
        "https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/",
        "https://fastapi.tiangolo.com/release-notes/#01060",
        "https://fastapi.tiangolo.com/release-notes/#01180",
    ),
)

ORM_INSTANCE_PASSED_TO_TASK = Rule(
    code="BG102",
    name="orm-instance-passed-to-task",
    severity=Severity.ERROR,
    summary="An ORM object loaded through a request-scoped session is read in a background task",
    message="`{name}` was loaded through `{session}`, which is closed before the task reads it; pass its primary key and load it in the task",
    why="""
        Objects loaded through a session belong to it. When the dependency that made the
        session commits and closes it before the task runs, the object is detached and (after
        the commit) expired: reading `{name}.email` in the task raises
        `DetachedInstanceError`, and lazy relationships cannot load. Passing the primary key, a
        Pydantic snapshot (`Model.model_validate(obj)`) or an `expunge()`d object is fine.

        Like BG101 this follows `target-fastapi`: it fires when the session's dependency exits
        before the tasks (FastAPI 0.106 to 0.117, or `Depends(..., scope="function")`).
    """,
    bad="""
        from typing import Annotated

        from fastapi import BackgroundTasks, Depends, FastAPI
        from sqlalchemy import String, create_engine
        from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
        from sqlalchemy.pool import StaticPool

        engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
        SessionLocal = sessionmaker(bind=engine)
        app = FastAPI()
        events: list = []


        class Base(DeclarativeBase):
            pass


        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            email: Mapped[str] = mapped_column(String(100))


        def get_db():
            db = SessionLocal()
            try:
                yield db
                db.commit()
            finally:
                db.close()


        def send_welcome(user: User) -> None:
            try:
                events.append(user.email)
            except Exception as exc:
                events.append(type(exc).__name__)


        @app.post("/users/{user_id}/welcome")
        def welcome(user_id: int, tasks: BackgroundTasks, db: Annotated[Session, Depends(get_db, scope="function")]):
            user = db.get(User, user_id)
            tasks.add_task(send_welcome, user)
    """,
    good="""
        from typing import Annotated

        from fastapi import BackgroundTasks, Depends, FastAPI
        from sqlalchemy import String, create_engine
        from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
        from sqlalchemy.pool import StaticPool

        engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
        SessionLocal = sessionmaker(bind=engine)
        app = FastAPI()
        events: list = []


        class Base(DeclarativeBase):
            pass


        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            email: Mapped[str] = mapped_column(String(100))


        def get_db():
            db = SessionLocal()
            try:
                yield db
                db.commit()
            finally:
                db.close()


        def send_welcome(user_id: int) -> None:
            with SessionLocal() as db:
                user = db.get(User, user_id)
                events.append(user.email)


        @app.post("/users/{user_id}/welcome")
        def welcome(user_id: int, tasks: BackgroundTasks, db: Annotated[Session, Depends(get_db, scope="function")]):
            user = db.get(User, user_id)
            tasks.add_task(send_welcome, user.id)
    """,
    options=("target-fastapi", "session-types"),
    references=("https://docs.sqlalchemy.org/en/20/errors.html#error-bhk3",),
)

REQUEST_PASSED_TO_TASK = Rule(
    code="BG103",
    name="request-passed-to-task",
    severity=Severity.ERROR,
    summary="A task reads the body of a request, or uses a WebSocket, after the request is over",
    message="the task reads `{use}` after the request is over; read what the task needs in the endpoint and pass that",
    why="""
        Background tasks run after the response is sent. By then the server answers the
        request's `receive` with `http.disconnect` (uvicorn does so once the response is
        complete), so a body that was not read yet raises `ClientDisconnect` in the task, and a
        WebSocket whose endpoint returned is closed. Headers, URL, method, query parameters and
        client address are plain data on the request and stay valid, so reading those is fine.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI, Request

        app = FastAPI()
        events: list = []


        async def audit(request: Request) -> None:
            try:
                events.append(await request.json())
            except Exception as exc:
                events.append(type(exc).__name__)


        @app.post("/webhook")
        async def webhook(request: Request, tasks: BackgroundTasks):
            tasks.add_task(audit, request)
            return {"accepted": True}
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI, Request

        app = FastAPI()
        events: list = []


        async def audit(payload: dict) -> None:
            events.append(payload)


        @app.post("/webhook")
        async def webhook(request: Request, tasks: BackgroundTasks):
            payload = await request.json()
            tasks.add_task(audit, payload)
            return {"accepted": True}
    """,
    references=("https://www.starlette.io/requests/", "https://asgi.readthedocs.io/en/latest/specs/www.html"),
)

UPLOAD_PASSED_TO_TASK = Rule(
    code="BG104",
    name="upload-passed-to-task",
    severity=Severity.ERROR,
    summary="An `UploadFile` is handed to a task that outlives the request's files",
    message="`{name}` is an `UploadFile` that is closed before the task reads it; pass `await {name}.read()` or a saved copy instead",
    why="""
        FastAPI closes the request's uploaded files when it is done with the request. A task
        that reads an `UploadFile` afterwards fails with `ValueError: I/O operation on closed
        file`.

        A coroutine started with `asyncio.create_task` (or a job sent to a queue) outlives the
        request on every version. For `add_task`/`BackgroundTask` it depends on FastAPI: from
        0.106 to 0.117 the files were closed before the response and its tasks; before 0.106
        and since 0.118 they are closed after the tasks, so the rule follows `target-fastapi`
        (or the project's pin) for those.
    """,
    bad="""
        import asyncio

        from fastapi import FastAPI, UploadFile

        app = FastAPI()
        events: list = []


        async def process(file: UploadFile) -> None:
            await asyncio.sleep(0.05)
            try:
                events.append(await file.read())
            except ValueError as exc:
                events.append(str(exc))


        @app.post("/upload")
        async def upload(file: UploadFile):
            asyncio.create_task(process(file))
            return {"queued": file.filename}
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI, UploadFile

        app = FastAPI()
        events: list = []


        def process(filename: str, content: bytes) -> None:
            events.append((filename, content))


        @app.post("/upload")
        async def upload(file: UploadFile, tasks: BackgroundTasks):
            content = await file.read()
            tasks.add_task(process, file.filename, content)
            return {"queued": file.filename}
    """,
    options=("target-fastapi",),
    references=(
        "https://fastapi.tiangolo.com/tutorial/request-files/",
        "https://fastapi.tiangolo.com/release-notes/#01180",
    ),
)

ADD_TASK_AFTER_YIELD = Rule(
    code="BG105",
    name="add-task-after-yield",
    severity=Severity.ERROR,
    summary="A dependency adds a background task after its `yield`, too late for it to run",
    message="a task added after `yield` comes too late to run; add it to `{tasks}` before `yield`",
    why="""
        The code after `yield` in a dependency runs once the response is done. Before FastAPI
        0.106 and again since 0.118 that is after the response's background tasks already ran,
        so a task added there is silently dropped (checked on FastAPI 0.165). From 0.106 to
        0.117, and for `Depends(dep, scope="function")` since 0.121, the exit code ran before
        the response was sent and such a task did run: the rule stays silent for those targets
        and for dependencies declared with `scope="function"` in the same module.
    """,
    bad="""
        from fastapi import BackgroundTasks, Depends, FastAPI

        app = FastAPI()
        events: list = []


        def audit(action: str) -> None:
            events.append(action)


        def audited(tasks: BackgroundTasks):
            yield "user-1"
            tasks.add_task(audit, "request finished")


        @app.get("/profile")
        def profile(user: str = Depends(audited)):
            return {"user": user}
    """,
    good="""
        from fastapi import BackgroundTasks, Depends, FastAPI

        app = FastAPI()
        events: list = []


        def audit(action: str) -> None:
            events.append(action)


        def audited(tasks: BackgroundTasks):
            tasks.add_task(audit, "request finished")
            yield "user-1"


        @app.get("/profile")
        def profile(user: str = Depends(audited)):
            return {"user": user}
    """,
    options=("target-fastapi",),
    references=(
        "https://github.com/fastapi/fastapi/discussions/6871",
        "https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/",
    ),
)

RESPONSE_BACKGROUND_DROPS_TASKS = Rule(
    code="BG106",
    name="response-background-drops-tasks",
    severity=Severity.ERROR,
    fix=Safety.SAFE,
    summary="A returned response's own `background=` drops the tasks added to the injected `BackgroundTasks`",
    message="this `background=` replaces the tasks added to `{tasks}`, which never run; add this task to `{tasks}` instead",
    why="""
        FastAPI attaches the injected `BackgroundTasks` to the response only when the response
        has no background of its own (`if response.background is None`). A response returned
        with `background=...` keeps its own task, and everything added with
        `{tasks}.add_task(...)` is silently dropped.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI
        from fastapi.responses import JSONResponse
        from starlette.background import BackgroundTask

        app = FastAPI()
        events: list = []


        def send_receipt(order_id: int) -> None:
            events.append(("receipt", order_id))


        def update_stock(order_id: int) -> None:
            events.append(("stock", order_id))


        @app.post("/orders/{order_id}")
        def place_order(order_id: int, tasks: BackgroundTasks):
            tasks.add_task(send_receipt, order_id)
            return JSONResponse({"id": order_id}, background=BackgroundTask(update_stock, order_id))
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI
        from fastapi.responses import JSONResponse

        app = FastAPI()
        events: list = []


        def send_receipt(order_id: int) -> None:
            events.append(("receipt", order_id))


        def update_stock(order_id: int) -> None:
            events.append(("stock", order_id))


        @app.post("/orders/{order_id}")
        def place_order(order_id: int, tasks: BackgroundTasks):
            tasks.add_task(send_receipt, order_id)
            tasks.add_task(update_stock, order_id)
            return JSONResponse({"id": order_id})
    """,
    fix_note="""
        When the value is a direct `BackgroundTask(f, *args)` call and the response is built
        in a simple `return` statement, removes the `background=` argument and adds
        `tasks.add_task(f, *args)` on the line before the `return`. Both tasks then run, the
        response's task last, as the injected tasks would have.
    """,
    references=("https://fastapi.tiangolo.com/advanced/response-directly/", "https://www.starlette.io/background/"),
)

TASKS_NEVER_ATTACHED = Rule(
    code="BG107",
    name="tasks-never-attached",
    severity=Severity.ERROR,
    summary="Tasks are added to a `BackgroundTasks` that is never attached to a response",
    message="`{name}` is never attached to a response, so its tasks never run; take `BackgroundTasks` as an endpoint parameter",
    why="""
        FastAPI runs only the `BackgroundTasks` it injected itself (a parameter annotated with
        the type) or one passed as `background=` to the response that is returned. An object
        built with `BackgroundTasks()` / `BackgroundTask(...)` in the endpoint, returned by a
        helper, or obtained through `Depends(factory)` on a parameter not annotated with the
        type is just a list: the tasks added to it are dropped without an error.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()
        events: list = []


        def send_welcome(email: str) -> None:
            events.append(email)


        @app.post("/signup")
        def signup(email: str):
            tasks = BackgroundTasks()
            tasks.add_task(send_welcome, email)
            return {"ok": True}
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()
        events: list = []


        def send_welcome(email: str) -> None:
            events.append(email)


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_welcome, email)
            return {"ok": True}
    """,
    fix_note="""
        None: whether to inject the parameter or attach the object to a response depends on
        the endpoint's signature and its other callers.
    """,
    references=("https://fastapi.tiangolo.com/tutorial/background-tasks/",),
)

RAISE_AFTER_ADD_TASK = Rule(
    code="BG108",
    name="raise-after-add-task",
    severity=Severity.ERROR,
    summary="The endpoint raises after adding background tasks, which the error response drops",
    message="raising here drops the tasks already added to `{tasks}`; add them after the checks that can raise, or return the error response instead",
    why="""
        FastAPI attaches the injected `BackgroundTasks` to the response the endpoint returns.
        When the endpoint raises instead (`raise HTTPException(...)` or any other exception),
        the response comes from an exception handler and the tasks added before the `raise`
        never run, without any error.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI, HTTPException

        app = FastAPI()
        events: list = []


        def log_attempt(user: str) -> None:
            events.append(("attempt", user))


        @app.post("/login")
        def login(user: str, password: str, tasks: BackgroundTasks):
            tasks.add_task(log_attempt, user)
            if password != "secret":
                raise HTTPException(status_code=401, detail="bad credentials")
            return {"ok": True}
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI
        from fastapi.responses import JSONResponse

        app = FastAPI()
        events: list = []


        def log_attempt(user: str) -> None:
            events.append(("attempt", user))


        @app.post("/login")
        def login(user: str, password: str, tasks: BackgroundTasks):
            tasks.add_task(log_attempt, user)
            if password != "secret":
                return JSONResponse({"detail": "bad credentials"}, status_code=401)
            return {"ok": True}
    """,
    references=("https://fastapi.tiangolo.com/tutorial/handling-errors/", "https://fastapi.tiangolo.com/tutorial/background-tasks/"),
)


# -- FastAPI versions ------------------------------------------------------------------------
def exit_runs_before_tasks(settings: Settings, scope: Optional[str]) -> bool:
    """Whether a yield dependency's exit code runs before the background tasks.

    FastAPI release notes: before 0.106 it ran after the tasks; 0.106 moved it before the
    response; 0.118 moved it after the response (and its tasks) again; 0.121 added
    ``scope="function"``, which runs it when the endpoint returns (checked on FastAPI 0.165:
    a default dependency closes after the task, a ``scope="function"`` one before it).
    """
    if not settings.fastapi_at_least(0, 106):
        return False
    if not settings.fastapi_at_least(0, 118):
        return True
    return scope == "function" and settings.fastapi_at_least(0, 121)


def files_close_before_tasks(settings: Settings) -> bool:
    """``UploadFile``s were closed with the dependencies before the response from 0.106 to 0.117."""
    return settings.fastapi_at_least(0, 106) and not settings.fastapi_at_least(0, 118)


# -- names used by what is handed over -------------------------------------------------------
class _LoadedNames(cst.CSTVisitor):
    """Names read in an expression or body (not attribute names, keywords or parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: List[cst.Name] = []

    def visit_Name(self, node: cst.Name) -> None:
        self.found.append(node)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Param(self, node: cst.Param) -> bool:
        if node.default is not None:
            node.default.visit(self)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        node.body.visit(self)
        return False


def loaded_names(node: cst.CSTNode) -> List[cst.Name]:
    visitor = _LoadedNames()
    node.visit(visitor)
    return visitor.found


def _loaded_in(fn: FunctionFacts) -> List[cst.Name]:
    """Names read in ``fn``'s body, its nested defs included (those left out of its parse too)."""
    return [n for node in fn.bodies() for n in loaded_names(node)]


def handed_names(site: TaskSite, ctx: RuleContext) -> Iterator[Tuple[cst.Name, cst.CSTNode]]:
    """Each local name the task will see, with the node to report: arguments (partials
    included), names a lambda handed over reads, and free names of a nested def handed over."""
    fn = site.function
    if fn is None:
        return
    for arg in iter_task_args(site, ctx.target(site)):
        if isinstance(arg.value, cst.Name):
            yield arg.value, arg.value
    task = site.task_expr
    if isinstance(task, cst.Lambda):
        bound = set(_lambda_params(task))
        for name in loaded_names(task.body):
            if name.value not in bound:
                yield name, task
    elif isinstance(task, cst.Name):
        nested = _nested_def(task.value, fn)
        if nested is not None:
            for name in _loaded_in(nested):
                if not any(scope.binds(name.value) for scope in _inner_scopes(nested, fn)):
                    yield name, task


def _lambda_params(node: cst.Lambda) -> List[str]:
    p = node.params
    out = [*p.posonly_params, *p.params, *p.kwonly_params]
    if isinstance(p.star_arg, cst.Param):
        out.append(p.star_arg)
    if p.star_kwarg is not None:
        out.append(p.star_kwarg)
    return [q.name.value for q in out]


def _nested_def(name: str, fn: FunctionFacts) -> Optional[FunctionFacts]:
    for scope in fn.chain():
        nested = scope.nested_def(name)
        if nested is not None:
            return nested
        if scope.binds(name):
            return None
    return None


def _inner_scopes(nested: FunctionFacts, outer: FunctionFacts) -> Iterator[FunctionFacts]:
    """The nested def and every def between it and ``outer`` (their names are not ``outer``'s)."""
    for scope in nested.chain():
        if scope is outer:
            return
        yield scope


# -- where a local comes from ----------------------------------------------------------------
def local_value(name: str, fn: FunctionFacts) -> Tuple[Optional[cst.BaseExpression], Optional[FunctionFacts]]:
    """The last value assigned to local ``name`` (looking outwards through closures)."""
    for scope in fn.chain():
        if scope.param(name) is not None:
            return None, scope
        values = scope.assignments.get(name)
        if values:
            return values[-1], scope
    return None, None


def _wrapped_names(value: cst.BaseExpression, fn: FunctionFacts, ctx: RuleContext) -> List[cst.Name]:
    """``Repo(db)`` / ``Store(session=db)``: the names an object of a project class is built from."""
    if not isinstance(value, cst.Call) or not isinstance(value.func, (cst.Name, cst.Attribute)):
        return []
    sym = ctx.resolve(value.func, fn)
    if sym is None or sym.cls is None:
        return []  # a function may well return plain data computed from the session
    return [a.value for a in value.args if isinstance(a.value, cst.Name)]


def source_params(name: str, fn: FunctionFacts, ctx: RuleContext, _depth: int = 0) -> Iterator[Tuple[str, FunctionFacts]]:
    """The parameters whose object ``name`` is, or wraps: through ``s = db`` and ``repo = Repo(db)``."""
    if _depth > _MAX_ALIAS_DEPTH:
        return
    value, scope = local_value(name, fn)
    if scope is None:
        return
    if value is None:
        yield name, scope
        return
    if isinstance(value, cst.Name):
        yield from source_params(value.value, scope, ctx, _depth + 1)
        return
    for inner in _wrapped_names(value, scope, ctx):
        yield from source_params(inner.value, scope, ctx, _depth + 1)


# -- dependencies ------------------------------------------------------------------------------
def closing_dependency(dep: Dependency) -> bool:
    """A dependency with ``yield`` that creates what it yields and closes it afterwards
    (not one that yields a module-level singleton, settings object or plain data)."""
    fn = dep.function
    if fn is None or not fn.is_generator or dep.target is None:
        return False
    module = dep.target.module
    return any(_yields_own_resource(y, fn, module) and _code_after(y, fn, module) for y in fn.yields)


def _yields_own_resource(node: cst.Yield, fn: FunctionFacts, module: ModuleFacts) -> bool:
    value = node.value
    if isinstance(value, cst.Call):
        return True
    if isinstance(value, cst.Name):
        values = fn.assignments.get(value.value)
        return bool(values) and value.value not in fn.global_names
    return False


def _code_after(node: cst.Yield, fn: FunctionFacts, module: ModuleFacts) -> bool:
    """The yield sits in a ``with``/``try`` block, or statements follow it: there is exit code."""
    cur = module.parent(node)
    while cur is not None and cur is not fn.node:
        if isinstance(cur, (cst.With, cst.Try)):
            return True
        cur = module.parent(cur)
    stmt = module.statement_of(node)
    body = fn.node.body
    if isinstance(body, cst.IndentedBlock) and stmt in body.body:
        return body.body.index(stmt) < len(body.body) - 1  # type: ignore[arg-type]
    return False


def _dependency_name(dep: Dependency, ctx: RuleContext) -> str:
    if dep.function is not None:
        return dep.function.name
    if dep.expr is not None:
        return dep.module.code_for(dep.expr)
    return "Depends()"


def session_source(info: ParamInfo, site: TaskSite, ctx: RuleContext) -> Optional[str]:
    """The name of the dependency that closes this parameter's value before the task, if one does."""
    dep = info.dependency
    queue = site.is_queue and ctx.settings.fastapi_at_least(0, 106)
    scope = dep.scope if dep is not None else None
    if not (queue or exit_runs_before_tasks(ctx.settings, scope)):
        return None
    if dep is not None and dep.function is not None:
        return _dependency_name(dep, ctx) if closing_dependency(dep) else None
    if info.type.types & ctx.tables.session_types:
        # the dependency cannot be seen (or a helper's parameter): a session type still tells
        return _dependency_name(dep, ctx) if dep is not None else "a request-scoped dependency"
    return None


@SESSION_PASSED_TO_TASK.on_site
def check_session_passed_to_task(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    fn = site.function
    if fn is None or awaited_in_request(site):
        return  # the endpoint waits for the task: the dependency has not exited yet
    reported: Set[int] = set()
    for name, node in handed_names(site, ctx):
        if id(node) in reported:
            continue
        for param, scope in source_params(name.value, fn, ctx):
            info = ctx.params(scope).get(param)
            if info is None:
                continue
            dep = session_source(info, site, ctx)
            if dep is not None:
                reported.add(id(node))
                yield ctx.finding(SESSION_PASSED_TO_TASK, node, name=name.value, dep=dep)
                break


@UPLOAD_PASSED_TO_TASK.on_site
def check_upload_passed_to_task(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    fn = site.function
    outlives_request = (site.mechanism is Mechanism.CREATE_TASK and not awaited_in_request(site)) or site.is_queue
    if fn is None or not (outlives_request or files_close_before_tasks(ctx.settings)):
        return
    reported: Set[int] = set()
    for name, node in handed_names(site, ctx):
        if id(node) in reported:
            continue
        for param, scope in source_params(name.value, fn, ctx):
            info = ctx.params(scope).get(param)
            if info is not None and info.is_type(names.UPLOAD_FILE):
                reported.add(id(node))
                yield ctx.finding(UPLOAD_PASSED_TO_TASK, node, name=name.value)
                break


# Starlette ``Request`` methods that read from ``receive``; ``WebSocket`` methods that talk to the client.
_BODY_METHODS = frozenset({"body", "json", "form", "stream"})
_WEBSOCKET_PREFIXES = ("send", "receive", "iter_")
_WEBSOCKET_METHODS = frozenset({"accept", "close"})


def target_param(site: TaskSite, target: TaskTarget, arg: TaskArg) -> Optional[str]:
    """The parameter of the target that receives ``arg`` (None for ``*args``/``**kwargs``)."""
    if arg.star:
        return None
    if arg.keyword is not None:
        return arg.keyword
    params = [p for p in target.function.params if p.kind in ("positional_only", "positional")]
    if target.bound and params:
        params = params[1:]
    index = 0
    for other in iter_task_args(site, target):
        if other.star == "*":
            return None
        if other is arg:
            return params[index].name if index < len(params) else None
        if other.keyword is None and not other.star:
            index += 1
    return None


def request_use(fn: FunctionFacts, name: str, websocket: bool) -> Optional[cst.Call]:
    """A call in ``fn`` that reads the body of request ``name`` or talks over WebSocket ``name``."""
    for call in fn.calls:
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == name):
            continue
        method = func.attr.value
        if method in _BODY_METHODS:
            return call
        if websocket and (method in _WEBSOCKET_METHODS or method.startswith(_WEBSOCKET_PREFIXES)):
            return call
    return None


def _request_kind(name: str, fn: FunctionFacts, ctx: RuleContext) -> Optional[bool]:
    """None when ``name`` is not a request; else whether it is a WebSocket."""
    for param, scope in source_params(name, fn, ctx):
        info = ctx.params(scope).get(param)
        if info is None or not isinstance(local_value(name, fn)[0], (type(None), cst.Name)):
            continue
        if info.is_type(names.WEBSOCKET):
            return True
        if info.is_type(names.REQUEST):
            return False
    return None


@REQUEST_PASSED_TO_TASK.on_site
def check_request_passed_to_task(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    fn = site.function
    target = ctx.target(site)
    if fn is None or target is None:
        return  # what an unseen task does with the request is unknown
    if awaited_in_request(site):
        return  # the endpoint waits for the task: the request (or WebSocket) is still open
    for arg in iter_task_args(site, target):
        if not isinstance(arg.value, cst.Name):
            continue
        websocket = _request_kind(arg.value.value, fn, ctx)
        if websocket is None:
            continue
        param = target_param(site, target, arg)
        use = request_use(target.function, param, websocket) if param else None
        if use is not None:
            yield ctx.finding(REQUEST_PASSED_TO_TASK, arg.value, use=target.module.code_for(use.func) + "()")
    if isinstance(site.task_expr, cst.Name) and target.function.parent is fn:
        yield from _closure_uses(site, target, fn, ctx)


def _closure_uses(site: TaskSite, target: TaskTarget, fn: FunctionFacts, ctx: RuleContext) -> Iterator[Finding]:
    """A nested def handed over that reads the enclosing endpoint's request."""
    for p in fn.params:
        if target.function.binds(p.name):
            continue
        websocket = _request_kind(p.name, fn, ctx)
        use = request_use(target.function, p.name, websocket) if websocket is not None else None
        if use is not None:
            yield ctx.finding(REQUEST_PASSED_TO_TASK, site.task_expr, use=ctx.code_for(use.func) + "()")  # type: ignore[arg-type]
            return


@RESPONSE_BACKGROUND_DROPS_TASKS.on_module
def check_response_background(module: ModuleFacts, ctx: RuleContext) -> Iterator[Finding]:
    injected: dict = {}
    for site in ctx.sites:
        if site.mechanism is Mechanism.ADD_TASK and site.receiver_param is not None and site.receiver_param.is_background_tasks:
            owner = _param_owner(site.receiver_param.param.node, site.function)
            if owner is not None:
                injected.setdefault(id(owner), (owner, site.receiver_param.name, []))[2].append(site.call)
    for fn, tasks, adds in injected.values():
        for ret in fn.returns:  # the function's own returns (not those of nested defs)
            call = _returned_response(ret, fn, ctx)
            if call is None:
                continue
            if not any(_added_before(add, ret, fn, module) for add in adds):
                continue  # returned before any task is added (`if stream: return ...` first): nothing is dropped
            arg = next((a for a in call.args if a.keyword is not None and a.keyword.value == "background"), None)
            if arg is None or (isinstance(arg.value, cst.Name) and arg.value.value == tasks):
                continue  # `background=tasks` hands over the injected tasks themselves
            if isinstance(arg.value, cst.Name) and arg.value.value == "None":
                continue
            fix = _move_to_injected(ret, call, arg, fn, tasks, ctx) if ret.value is call else None
            yield ctx.finding(RESPONSE_BACKGROUND_DROPS_TASKS, arg, fix=fix, tasks=tasks)


def _added_before(add: cst.Call, ret: cst.Return, fn: FunctionFacts, module: ModuleFacts) -> bool:
    """Whether the ``add_task`` call can run before ``ret``: earlier and on a path to it, or in a
    loop around both (a later iteration returns after an earlier one added)."""
    if module.is_after(ret, add) and _reaches(add, ret, fn, module):
        return True
    loops = {id(n) for n in _path(ret, fn, module) if isinstance(n, (cst.For, cst.While))}
    return any(id(n) in loops for n in _path(add, fn, module))


def _param_owner(node: cst.Param, fn: Optional[FunctionFacts]) -> Optional[FunctionFacts]:
    for scope in fn.chain() if fn is not None else ():
        if any(p.node is node for p in scope.params):
            return scope
    return None


def _returned_response(ret: cst.Return, fn: FunctionFacts, ctx: RuleContext) -> Optional[cst.Call]:
    value = ret.value
    if isinstance(value, cst.Name):
        value, _ = local_value(value.value, fn)
    if isinstance(value, cst.Call) and names.is_response_class(ctx.qualify(value.func, fn)):
        return value
    return None


def _move_to_injected(ret: cst.Return, call: cst.Call, arg: cst.Arg, fn: FunctionFacts, tasks: str, ctx: RuleContext) -> Optional[Fix]:
    task = arg.value
    if not (isinstance(task, cst.Call) and ctx.qualify(task.func, fn) == names.BACKGROUND_TASK and task.args):
        return None
    line = ctx.module.statement_of(ret)
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    start, _ = ctx.module.span(line)
    source = ctx.module.source
    indent_start = sources.line_start(source, start)
    indent = source[indent_start:start]
    if indent.strip():
        return None
    first, last = ctx.module.span(task.args[0])[0], ctx.module.span(task.args[-1])[1]
    newline = sources.line_end_before(source, indent_start, ctx.module.tree.default_newline)
    added = f"{tasks}.add_task({source[first:last]}){newline}{indent}"
    return ctx.fix(
        Safety.SAFE,
        [Edit(start, start, added), _drop_arg(call, arg, ctx)],
        f"add the response's task to `{tasks}`",
    )


def _drop_arg(call: cst.Call, arg: cst.Arg, ctx: RuleContext) -> Edit:
    args = list(call.args)
    i = next(k for k, a in enumerate(args) if a is arg)
    if len(args) == 1:
        return ctx.replace(call, ctx.code_for(call.func) + "()")
    if i > 0:
        return Edit(ctx.module.span(args[i - 1])[1], ctx.module.span(arg)[1], "")
    return Edit(ctx.module.span(arg)[0], ctx.module.span(args[1])[0], "")


_DETACHED = (Origin.CONSTRUCTED, Origin.FACTORY, Origin.DEPENDENCY)


@TASKS_NEVER_ATTACHED.on_module
def check_tasks_never_attached(module: ModuleFacts, ctx: RuleContext) -> Iterator[Finding]:
    seen: Set[Tuple[int, str]] = set()
    for site in ctx.sites:
        fn = site.function
        if fn is None or not is_endpoint(fn, module):
            continue
        if site.mechanism is Mechanism.ADD_TASK and site.origin in _DETACHED and isinstance(site.receiver, cst.Name):
            name = site.receiver.value
            if (id(fn), name) in seen or _escapes(name, fn, module) or _hands_back_injected(name, fn, site, ctx):
                continue
            seen.add((id(fn), name))
            yield ctx.finding(TASKS_NEVER_ATTACHED, site.call, name=name)
        elif site.mechanism is Mechanism.ADD_TASK and site.origin is Origin.CONSTRUCTED and isinstance(site.receiver, cst.Call):
            yield ctx.finding(TASKS_NEVER_ATTACHED, site.call, name=ctx.code_for(site.receiver))
        elif site.mechanism is Mechanism.BACKGROUND_TASK:
            name = _unused_task(site, fn, module)
            if name is not None:
                yield ctx.finding(TASKS_NEVER_ATTACHED, site.call, name=name)


def _uses(name: str, fn: FunctionFacts) -> List[cst.Name]:
    return [n for n in _loaded_in(fn) if n.value == name]


def _escapes(name: str, fn: FunctionFacts, module: ModuleFacts) -> bool:
    """Whether the object leaves the function in any way other than having tasks added:
    returned, passed to a call (``background=``, an exception, a helper), stored, yielded."""
    for use in _uses(name, fn):
        parent = module.parent(use)
        if isinstance(parent, cst.AssignTarget) or (isinstance(parent, cst.AnnAssign) and parent.target is use):
            continue
        if isinstance(parent, cst.WithItem) or (isinstance(parent, cst.AsName) and parent.name is use):
            continue
        if isinstance(parent, cst.Attribute) and parent.value is use and parent.attr.value == "add_task":
            grand = module.parent(parent)
            if isinstance(grand, cst.Call) and grand.func is parent:
                continue
        return True
    return False


def _hands_back_injected(name: str, fn: FunctionFacts, site: TaskSite, ctx: RuleContext) -> bool:
    """A factory or dependency that returns the ``BackgroundTasks`` FastAPI injected into it."""
    if site.origin is Origin.CONSTRUCTED:
        return False
    info = ctx.param_for(name, fn)
    if site.origin is Origin.DEPENDENCY:
        dep = info.dependency if info is not None else None
        maker = dep.function if dep is not None else None
    else:
        value, scope = local_value(name, fn)
        sym = ctx.resolve(value.func, scope) if isinstance(value, cst.Call) else None
        maker = sym.function if sym is not None else None
    if maker is None:
        return True  # nothing to look at: do not guess
    handed = [r.value for r in maker.returns] + [y.value for y in maker.yields]
    return any(isinstance(v, cst.Name) and maker.param(v.value) is not None for v in handed)


def _unused_task(site: TaskSite, fn: FunctionFacts, module: ModuleFacts) -> Optional[str]:
    """``BackgroundTask(f)`` as a bare statement, or assigned to a local never used again."""
    parent = module.parent(site.call)
    if isinstance(parent, cst.Expr):
        return module.code_for(site.call.func) + "(...)"
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
        name = parent.targets[0].target.value
        if len(fn.assignments.get(name, [])) == 1 and not _escapes(name, fn, module):
            return name
    return None


@RAISE_AFTER_ADD_TASK.on_module
def check_raise_after_add_task(module: ModuleFacts, ctx: RuleContext) -> Iterator[Finding]:
    first: dict = {}
    for site in ctx.sites:
        fn = site.function
        if site.mechanism is not Mechanism.ADD_TASK or site.origin is not Origin.INJECTED or fn is None:
            continue
        if site.receiver_param is None or fn.param(site.receiver_param.name) is None or not is_endpoint(fn, module):
            continue  # only the endpoint's own parameter, added in the endpoint itself
        first.setdefault(id(fn), []).append(site)
    for sites in first.values():
        fn = sites[0].function
        assert fn is not None
        for node in fn.raises:
            site = next((s for s in sites if module.is_after(node, s.call) and _reaches(s.call, node, fn, module)), None)
            if site is not None and not _caught_here(node, fn, module):
                yield ctx.finding(RAISE_AFTER_ADD_TASK, node, tasks=site.receiver_param.name)  # type: ignore[union-attr]


def _path(node: cst.CSTNode, fn: FunctionFacts, module: ModuleFacts) -> List[cst.CSTNode]:
    """``node``'s ancestors up to the function's body, innermost first."""
    out: List[cst.CSTNode] = []
    cur: Optional[cst.CSTNode] = node
    while cur is not None and cur is not fn.node:
        out.append(cur)
        cur = module.parent(cur)
    return out


def _reaches(call: cst.Call, raise_node: cst.CSTNode, fn: FunctionFacts, module: ModuleFacts) -> bool:
    """Whether control can go from the ``add_task`` call on to the ``raise``: not in exclusive
    branches (``if``/``else``, two ``except`` clauses), not after a ``return`` that ends the
    ``add_task``'s block."""
    a, r = _path(call, fn, module), _path(raise_node, fn, module)
    common = {id(n) for n in r}
    lca_index = next((i for i, n in enumerate(a) if id(n) in common), None)
    if lca_index is None or lca_index == 0:
        return False
    lca = a[lca_index]
    child_a = a[lca_index - 1]
    child_r = r[[id(n) for n in r].index(id(lca)) - 1]
    if isinstance(lca, (cst.If, cst.Else)) and child_a is not child_r:
        return False
    if isinstance(lca, cst.Try) and isinstance(child_a, cst.ExceptHandler) and isinstance(child_r, cst.ExceptHandler):
        return False
    for block, stmt in zip(a[1 : lca_index + 1], a[:lca_index]):
        if isinstance(block, (cst.IndentedBlock, cst.Module)) and stmt in block.body:
            rest = block.body[list(block.body).index(stmt) + 1 :]
            if block is lca:
                rest = rest[: list(rest).index(child_r)] if child_r in rest else rest
            if any(_ends_flow(s) for s in rest):
                return False
    return True


def _ends_flow(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, (cst.Return, cst.Continue, cst.Break)) for s in stmt.body)


def _caught_here(node: cst.Raise, fn: FunctionFacts, module: ModuleFacts) -> bool:
    """A ``raise`` inside the body of a ``try`` with handlers may be caught in the function."""
    child: cst.CSTNode = node
    for parent in _path(node, fn, module)[1:]:
        if isinstance(parent, cst.Try) and parent.handlers and child is parent.body:
            return True
        child = parent
    return False


# Session methods that start a query, and the calls that end one with ORM objects.
_QUERY_STARTS = frozenset({"get", "get_one", "query", "execute", "scalars", "scalar"})
_QUERY_ENDS = frozenset({"get", "get_one", "first", "one", "one_or_none", "all", "scalar", "scalar_one", "scalar_one_or_none"})


def query_session(value: Optional[cst.BaseExpression]) -> Optional[cst.Name]:
    """``db`` in ``db.get(...)``, ``db.query(...).filter(...).first()``,
    ``(await db.execute(...)).scalar_one()``, ``db.scalars(...).all()``..."""
    value = _strip_await(value)
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value in _QUERY_ENDS):
        return None
    cur: Optional[cst.BaseExpression] = value
    while isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute):
        base = _strip_await(cur.func.value)
        if isinstance(base, cst.Name):
            return base if cur.func.attr.value in _QUERY_STARTS else None
        cur = base
    return None


def _strip_await(value: Optional[cst.BaseExpression]) -> Optional[cst.BaseExpression]:
    while isinstance(value, cst.Await):
        value = value.expression
    return value


class _AttributeReads(cst.CSTVisitor):
    """Whether a function body reads an attribute of ``name`` (or of what a ``for`` over it yields)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.names = {name}
        self.found: Optional[cst.Attribute] = None

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.iter, cst.Name) and node.iter.value in self.names and isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self.found is None and isinstance(node.value, cst.Name) and node.value.value in self.names:
            self.found = node


def reads_attributes(fn: FunctionFacts, name: str) -> bool:
    visitor = _AttributeReads(name)
    for node in fn.bodies():
        node.visit(visitor)
    return visitor.found is not None


def _expunged(obj: str, session: str, fn: FunctionFacts) -> bool:
    for call in fn.calls:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("expunge", "expunge_all") and isinstance(func.value, cst.Name) and func.value.value == session:
            if func.attr.value == "expunge_all" or any(isinstance(a.value, cst.Name) and a.value.value == obj for a in call.args):
                return True
    return False


@ORM_INSTANCE_PASSED_TO_TASK.on_site
def check_orm_instance_passed_to_task(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    fn = site.function
    target = ctx.target(site)
    if fn is None or target is None:
        return  # what an unseen task reads is unknown
    for arg in iter_task_args(site, target):
        if not isinstance(arg.value, cst.Name):
            continue
        value, scope = local_value(arg.value.value, fn)
        session = query_session(value)
        if session is None or scope is None or _expunged(arg.value.value, session.value, scope):
            continue
        param = target_param(site, target, arg)
        if param is None or not reads_attributes(target.function, param):
            continue
        for source, owner in source_params(session.value, scope, ctx):
            info = ctx.params(owner).get(source)
            if info is not None and session_source(info, site, ctx) is not None:
                yield ctx.finding(ORM_INSTANCE_PASSED_TO_TASK, arg.value, name=arg.value.value, session=session.value)
                break


@ADD_TASK_AFTER_YIELD.on_module
def check_add_task_after_yield(module: ModuleFacts, ctx: RuleContext) -> Iterator[Finding]:
    if files_close_before_tasks(ctx.settings):
        return  # FastAPI 0.106 to 0.117 ran the exit code before sending the response: the task ran
    for site in ctx.sites:
        fn = site.function
        if site.mechanism is not Mechanism.ADD_TASK or site.origin is not Origin.INJECTED or fn is None:
            continue
        if not fn.is_generator or site.receiver_param is None or fn.param(site.receiver_param.name) is None:
            continue
        if not any(module.is_after(site.call, y) for y in fn.yields):
            continue
        if _function_scoped_here(fn, module, ctx):
            continue  # `scope="function"` exits before the response is sent: the task still runs
        yield ctx.finding(ADD_TASK_AFTER_YIELD, site.call, tasks=site.receiver_param.name)


def _function_scoped_here(dep: FunctionFacts, module: ModuleFacts, ctx: RuleContext) -> bool:
    for call, where in module.all_calls():
        if ctx.qualify(call.func, where) not in names.DEPENDS or not call.args:
            continue
        scoped = any(a.keyword is not None and a.keyword.value == "scope" for a in call.args)
        first = call.args[0].value
        if scoped and isinstance(first, cst.Name):
            sym = ctx.resolve(first, where)
            if sym is not None and sym.function is dep:
                return True
    return False
