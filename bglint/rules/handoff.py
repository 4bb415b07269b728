"""BG3xx: how the task is handed over.

BG301 task-called-not-passed  the task is called at the hand-off instead of passed
BG302 awaited-add-task        `add_task` is awaited, but returns None
"""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from bglint import names
from bglint.context import RuleContext
from bglint.facts import FunctionFacts
from bglint.handoffs import Mechanism, TaskSite
from bglint.model import Finding, Fix, Rule, Safety, Severity

TASK_CALLED_NOT_PASSED = Rule(
    code="BG301",
    name="task-called-not-passed",
    severity=Severity.ERROR,
    fix=Safety.SAFE,
    summary="A task is called at the hand-off instead of being passed to it",
    message="`{callee}(...)` runs during the request; pass `{callee}` and its arguments to `{handoff}`",
    why="""
        `add_task` wants a callable and its arguments. Writing `add_task(send_email(to))` runs
        `send_email` inside the request (delaying the response) and schedules its return value:
        `None` for a plain function, which fails with `TypeError` after the response, or, for an
        `async def` task, a coroutine that nobody ever awaits.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str) -> None:
            print("sending to", to)


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email(email))
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str) -> None:
            print("sending to", to)


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email, email)
    """,
    fix_note="""
        Moves the call's arguments into the hand-off: `add_task(f(a, b=c))` becomes
        `add_task(f, a, b=c)`. Offered only when `f` resolves to a function of the project (not a
        factory that returns the task) and the hand-off has no other arguments.
    """,
    references=("https://fastapi.tiangolo.com/tutorial/background-tasks/",),
)

AWAITED_ADD_TASK = Rule(
    code="BG302",
    name="awaited-add-task",
    severity=Severity.ERROR,
    fix=Safety.SAFE,
    summary="`add_task` is awaited, but it returns None",
    message="`add_task` returns None, so awaiting it raises `TypeError`; drop the `await`",
    why="""
        `BackgroundTasks.add_task` is a plain method that only records the task. Awaiting its
        result, `None`, raises `TypeError: object NoneType can't be used in 'await' expression`,
        so the endpoint fails with a 500 and the task never runs.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        async def notify(user_id: int) -> None:
            print("notify", user_id)


        @app.post("/users/{user_id}/notify")
        async def trigger(user_id: int, tasks: BackgroundTasks):
            await tasks.add_task(notify, user_id)
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        async def notify(user_id: int) -> None:
            print("notify", user_id)


        @app.post("/users/{user_id}/notify")
        async def trigger(user_id: int, tasks: BackgroundTasks):
            tasks.add_task(notify, user_id)
    """,
    fix_note="Removes the `await`; the task is scheduled exactly as before.",
    references=("https://www.starlette.io/background/",),
)


@TASK_CALLED_NOT_PASSED.on_site
def check_task_called_not_passed(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    if site.mechanism not in (Mechanism.ADD_TASK, Mechanism.BACKGROUND_TASK):
        return
    task = site.task_expr
    if not isinstance(task, cst.Call):
        return
    if ctx.qualify(task.func, site.function) == names.FUNCTOOLS_PARTIAL:
        return  # partial(f, x) builds the callable: the right way to pre-fill arguments
    target = ctx.handoffs.callable_target(task.func, site.module, site.function)
    if target is None or _returns_callable(target.function):
        return  # a factory that returns the task (or something we cannot see) is fine
    callee = ctx.code_for(task.func)
    handoff = "add_task" if site.mechanism is Mechanism.ADD_TASK else "BackgroundTask"
    yield ctx.finding(TASK_CALLED_NOT_PASSED, task, fix=_unpack_fix(site, task, ctx), callee=callee, handoff=handoff)


def _returns_callable(fn: FunctionFacts) -> bool:
    """A function that returns a nested def, a lambda or a partial is a task factory."""
    nested = {n.name for n in fn.nested}
    for ret in fn.returns:
        value = ret.value
        if isinstance(value, cst.Lambda) or (isinstance(value, cst.Name) and value.value in nested):
            return True
        if isinstance(value, cst.Call) and isinstance(value.func, (cst.Name, cst.Attribute)):
            func = value.func
            name = func.attr.value if isinstance(func, cst.Attribute) else func.value
            if name == "partial":
                return True
    return False


def _unpack_fix(site: TaskSite, task: cst.Call, ctx: RuleContext) -> Optional[Fix]:
    if site.args:
        return None  # other arguments already given to the hand-off: their order is not ours to guess
    if any(a.value is task and a.keyword is not None for a in site.call.args):
        return None  # `add_task(func=f(x))`: unpacking would put positionals after a keyword
    if task.lpar or not isinstance(task.func, (cst.Name, cst.Attribute)):
        return None
    text = ", ".join([ctx.code_for(task.func), *(_arg_text(a, ctx) for a in task.args)])
    return ctx.fix(Safety.SAFE, [ctx.replace(task, text)], "pass the task and its arguments instead of calling it")


def _arg_text(arg: cst.Arg, ctx: RuleContext) -> str:
    star = arg.star if isinstance(arg.star, str) else ""
    value = ctx.code_for(arg.value)
    if arg.keyword is not None:
        return f"{arg.keyword.value}={value}"
    return f"{star}{value}"


@AWAITED_ADD_TASK.on_site
def check_awaited_add_task(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    if site.mechanism is not Mechanism.ADD_TASK:
        return
    parent = ctx.module.parent(site.call)
    if not isinstance(parent, cst.Await):
        return
    if site.receiver_param is not None and site.receiver_param.background_tasks_class is not None:
        cls, _ = site.receiver_param.background_tasks_class
        method = cls.methods.get("add_task")
        if method is not None and method.is_async:
            return  # a subclass whose own `async def add_task` really is awaitable
    yield ctx.finding(AWAITED_ADD_TASK, parent, fix=_drop_await(parent, site, ctx))


def _drop_await(node: cst.Await, site: TaskSite, ctx: RuleContext) -> Optional[Fix]:
    if site.call.lpar:
        return None  # `await (tasks.add_task(...))`: leave the parentheses' owner alone
    start, _ = ctx.module.span(node)
    call_start, _ = ctx.module.span(site.call)
    return ctx.fix(Safety.SAFE, [ctx.delete_range(start, call_start)], "drop the `await`")
