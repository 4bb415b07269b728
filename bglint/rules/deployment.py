"""BG5xx: deployment and scale (advice, off by default).

BG501 module-state-in-task  a task mutates module-level state that other worker processes never see
BG502 on-event-shutdown     `@app.on_event("shutdown")` (deprecated) used instead of a lifespan handler
"""

from __future__ import annotations

from typing import Dict, Iterator, Optional

import libcst as cst

from bglint.context import RuleContext
from bglint.facts import FunctionFacts, ModuleFacts, dotted
from bglint.handoffs import TaskTarget
from bglint.model import Finding, Rule, Severity
from bglint.project import Project

MODULE_STATE_IN_TASK = Rule(
    code="BG501",
    name="module-state-in-task",
    severity=Severity.ADVICE,
    default_enabled=False,
    summary="A background task mutates module-level state that other worker processes never see",
    message="task `{task}` changes module-level `{name}`, which lives in one worker process only; keep shared state in a database, cache or queue",
    why="""
        Production FastAPI runs several worker processes (`uvicorn --workers`, gunicorn, several
        pods). A dict, list or counter at module level exists once per process: a task that
        records progress or results there is invisible to requests served by the other workers,
        and lost on restart.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()
        REPORTS: dict = {}


        def build_report(report_id: str) -> None:
            REPORTS[report_id] = "done"


        @app.post("/reports/{report_id}")
        def start(report_id: str, tasks: BackgroundTasks):
            tasks.add_task(build_report, report_id)
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        from app.store import redis_client

        app = FastAPI()


        def build_report(report_id: str) -> None:
            redis_client.set(f"report:{report_id}", "done")


        @app.post("/reports/{report_id}")
        def start(report_id: str, tasks: BackgroundTasks):
            tasks.add_task(build_report, report_id)
    """,
    references=("https://fastapi.tiangolo.com/deployment/server-workers/",),
)

ON_EVENT_SHUTDOWN = Rule(
    code="BG502",
    name="on-event-shutdown",
    severity=Severity.ADVICE,
    default_enabled=False,
    summary='`@app.on_event("shutdown")` is deprecated; background work is drained in a lifespan handler',
    message='`{method}("shutdown")` is deprecated; move the shutdown code after the `yield` of a lifespan handler',
    why="""
        FastAPI deprecates `on_event` (it emits `DeprecationWarning`) in favour of `lifespan`;
        Starlette 1.0 removed both `on_event` and `add_event_handler` from its applications, so
        on current versions `app.add_event_handler(...)` fails with `AttributeError`.
        Shutdown hooks are often where pending background work is drained; a lifespan context
        manager keeps start-up and shutdown of that work together and is the supported place for it.
    """,
    bad="""
        from fastapi import FastAPI

        from app.jobs import pending_jobs

        app = FastAPI()


        @app.on_event("shutdown")
        async def drain() -> None:
            await pending_jobs.join()
    """,
    good="""
        from contextlib import asynccontextmanager

        from fastapi import FastAPI

        from app.jobs import pending_jobs


        @asynccontextmanager
        async def lifespan(app: FastAPI):
            yield
            await pending_jobs.join()


        app = FastAPI(lifespan=lifespan)
    """,
    references=("https://fastapi.tiangolo.com/advanced/events/",),
)

_MUTATORS = frozenset(
    {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "clear", "remove", "discard", "appendleft", "popleft", "extendleft"}
)
_MUTABLE_FACTORIES = frozenset(
    {"builtins.dict", "builtins.list", "builtins.set", "collections.defaultdict", "collections.Counter", "collections.deque", "collections.OrderedDict"}
)
_APPS = frozenset({"fastapi.FastAPI", "fastapi.applications.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter", "starlette.applications.Starlette"})


def _is_mutable(value: cst.BaseExpression, module: ModuleFacts) -> bool:
    if isinstance(value, (cst.Dict, cst.List, cst.Set, cst.DictComp, cst.ListComp, cst.SetComp)):
        return True
    return isinstance(value, cst.Call) and module.qualify(value.func) in _MUTABLE_FACTORIES


class _Mutations(cst.CSTVisitor):
    """Module-level names a function body changes (nested defs and lambdas not included)."""

    def __init__(self, fn: FunctionFacts, module: ModuleFacts, project: Project) -> None:
        super().__init__()
        self.fn = fn
        self.module = module
        self.project = project
        self.found: Dict[str, cst.CSTNode] = {}

    def _global_container(self, expr: cst.BaseExpression) -> Optional[str]:
        if isinstance(expr, cst.Name):
            name = expr.value
            if self.fn.binds(name) and name not in self.fn.global_names:
                return None  # a local of the same name
            value = self.module.assignments.get(name)
            if value is not None:
                return name if _is_mutable(value, self.module) else None
        elif not (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value in self.module.imports):
            return None  # only `NAME` or `module.NAME`, not attributes of objects
        # a container defined in another module of the project: `from app.state import CACHE`
        sym = self.project.resolve_expr(expr, self.module, self.fn)
        if sym is None or sym.value is None or not _is_mutable(sym.value, sym.module):
            return None
        return dotted(expr)

    def _record(self, name: Optional[str], node: cst.CSTNode) -> None:
        if name is not None:
            self.found.setdefault(name, node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.fn.node

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._target(t.target, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target, node)

    def visit_Del(self, node: cst.Del) -> None:
        self._target(node.target, node)

    def _target(self, target: cst.BaseExpression, node: cst.CSTNode) -> None:
        if isinstance(target, cst.Name) and target.value in self.fn.global_names:
            self._record(target.value, node)  # `global counter; counter += 1`
        elif isinstance(target, cst.Subscript):
            self._record(self._global_container(target.value), node)  # `CACHE[key] = value`

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _MUTATORS:
            self._record(self._global_container(func.value), node)  # `RESULTS.append(...)`


@MODULE_STATE_IN_TASK.on_task
def check_module_state_in_task(task: TaskTarget, ctx: RuleContext) -> Iterator[Finding]:
    if not any(site.mechanism.is_starlette for site in task.sites):
        # queue workers are separate processes already, and coroutines started with
        # `create_task` are mostly per-process service loops whose state is meant to be local
        return
    visitor = _Mutations(task.function, task.module, ctx.project)
    task.function.node.visit(visitor)
    for name, node in visitor.found.items():
        yield ctx.finding(MODULE_STATE_IN_TASK, node, task=task.function.name, name=name)


@ON_EVENT_SHUTDOWN.on_module
def check_on_event_shutdown(module: ModuleFacts, ctx: RuleContext) -> Iterator[Finding]:
    for call, fn in module.calls:
        func = call.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("on_event", "add_event_handler"):
            continue
        if not call.args or not isinstance(call.args[0].value, cst.SimpleString):
            continue
        if call.args[0].value.evaluated_value != "shutdown" or not _is_app(func.value, fn, module, ctx):
            continue
        yield ctx.finding(ON_EVENT_SHUTDOWN, call, method=func.attr.value)


def _is_app(expr: cst.BaseExpression, fn: Optional[FunctionFacts], module: ModuleFacts, ctx: RuleContext) -> bool:
    """A FastAPI/Starlette application or router, by what it was built from."""
    value, where = ctx.project.follow_value(expr, module, fn)
    return isinstance(value, cst.Call) and where.qualify(value.func) in _APPS
