"""BG3xx: how the task is handed over.

BG301 task-called-not-passed   the task is called at the hand-off instead of passed
BG302 awaited-add-task         `add_task` is awaited, but returns None
BG303 late-binding-lambda      a lambda/closure task in a loop sees only the loop variable's last value
BG304 task-signature-mismatch  the hand-off's arguments do not fit the task's signature
BG305 dropped-create-task      `asyncio.create_task(...)` in an endpoint with the task dropped
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Set

import libcst as cst

from bglint import names
from bglint.context import RuleContext
from bglint.facts import FunctionFacts, ModuleFacts
from bglint.handoffs import Mechanism, TaskArg, TaskSite, TaskTarget
from bglint.semantics import is_endpoint, may_hold_endpoints
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
        `send_email` inside the request (delaying the response) and hands over its return value:
        `None` for a plain function, which fails with `TypeError: the first argument must be
        callable` after the response, where only a log line shows it, or, for an `async def`
        task, a coroutine that nobody ever awaits: the client sees success, the work never happens.
        Calling it first into a variable (`job = send_email(to)`, then `add_task(job)`) is the same
        mistake, and so is `queue.enqueue(send_email(to))` with RQ.
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
        factory that returns the task) and the hand-off has no other arguments. The variable
        form and RQ's `enqueue` get no fix. A variable is reported only when every value assigned
        to it comes from a project function that certainly returns no callable (an `async def`, a
        generator, or one that returns only None or plain data).
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
    handoff = _CALLABLE_HANDOFFS.get(site.mechanism)
    task = site.task_expr
    if handoff is None or task is None:
        return  # Celery/Dramatiq/arq hand-offs take the task's arguments, not a callable
    if isinstance(task, cst.Name):
        yield from _called_through_variable(site, task, handoff, ctx)
        return
    if not isinstance(task, cst.Call):
        return
    if ctx.qualify(task.func, site.function) == names.FUNCTOOLS_PARTIAL:
        return  # partial(f, x) builds the callable: the right way to pre-fill arguments
    target = ctx.handoffs.callable_target(task.func, site.module, site.function)
    if target is None or _returns_callable(target, ctx):
        return  # a factory that returns the task (or something we cannot see) is fine
    if site.mechanism is Mechanism.RQ_ENQUEUE and not _returns_no_callable(target.function, data=False):
        return  # RQ also takes the task's import path as a string, which a function may build
    fix = _unpack_fix(site, task, ctx) if site.mechanism.is_starlette else None
    callee = ctx.code_for(task.func)
    yield ctx.finding(TASK_CALLED_NOT_PASSED, task, fix=fix, callee=callee, handoff=handoff)


# hand-offs whose first argument is the callable itself
_CALLABLE_HANDOFFS = {Mechanism.ADD_TASK: "add_task", Mechanism.BACKGROUND_TASK: "BackgroundTask", Mechanism.RQ_ENQUEUE: "enqueue"}


def _called_through_variable(site: TaskSite, task: cst.Name, handoff: str, ctx: RuleContext) -> Iterator[Finding]:
    """``x = f(a); tasks.add_task(x)``: the local holds what ``f`` returned, not ``f``."""
    scope = _binding_scope(task.value, site.function)
    if scope is None:
        return
    values = scope.assignments.get(task.value, [])
    calls = [v for v in values if isinstance(v, cst.Call) and _is_plain_assignment(v, task.value, ctx.module)]
    if not calls or len(calls) != len(values):
        return  # also bound by `for`, `with`, unpacking or a non-call: not ours to follow
    if not any(ctx.module.is_after(site.call, c) for c in calls):
        return
    for call in calls:
        if ctx.qualify(call.func, scope) == names.FUNCTOOLS_PARTIAL:
            return
        target = ctx.handoffs.callable_target(call.func, site.module, scope)
        if target is None or not _returns_no_callable(target.function, data=site.mechanism is not Mechanism.RQ_ENQUEUE):
            return  # a factory, or a function whose result we cannot see: the variable may hold the task
    callee = ctx.code_for(calls[-1].func)
    yield ctx.finding(TASK_CALLED_NOT_PASSED, task, callee=callee, handoff=handoff)


def _binding_scope(name: str, fn: Optional[FunctionFacts]) -> Optional[FunctionFacts]:
    """The function whose local ``name`` is (a parameter, import or nested def does not count)."""
    if fn is None:
        return None
    for scope in fn.chain():
        if name in scope.imports or scope.param(name) is not None or scope.has_nested(name):
            return None
        if name in scope.assignments:
            return scope
        if name in scope.global_names:
            return None
    return None


def _is_plain_assignment(value: cst.Call, name: str, module: ModuleFacts) -> bool:
    """``name = value`` / ``name: T = value`` / ``(name := value)``, nothing unpacked."""
    parent = module.parent(value)
    if isinstance(parent, cst.Assign):
        return all(isinstance(t.target, cst.Name) and t.target.value == name for t in parent.targets)
    if isinstance(parent, (cst.AnnAssign, cst.NamedExpr)):
        return isinstance(parent.target, cst.Name) and parent.target.value == name
    return False


# Decorators that leave what a call returns alone (others may wrap the function in anything).
_RESULT_PRESERVING_DECORATORS = frozenset({"staticmethod", "classmethod"})

# Return values that are never callable.
_DATA_EXPRESSIONS = (
    cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Integer, cst.Float, cst.Imaginary,
    cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp,
    cst.BinaryOperation, cst.Comparison, cst.UnaryOperation,
)


def _returns_no_callable(fn: FunctionFacts, data: bool = True) -> bool:
    """Whether calling ``fn`` certainly gives a non-callable: a coroutine, a generator, None or
    (with ``data``) plain data such as a string or a list."""
    for dec in fn.decorators:
        expr = dec.decorator
        if not (isinstance(expr, cst.Name) and expr.value in _RESULT_PRESERVING_DECORATORS):
            return False
    if fn.is_async or fn.is_generator:
        return True  # a coroutine, generator or async generator object
    for ret in fn.returns:
        value = ret.value
        if value is None or (isinstance(value, cst.Name) and value.value in ("None", "True", "False")):
            continue
        if not data or not isinstance(value, _DATA_EXPRESSIONS):
            return False
    return True


def _returns_callable(target: TaskTarget, ctx: RuleContext) -> bool:
    """A function that returns a nested def, a lambda, a partial or another function is a task factory."""
    fn = target.function
    returns = fn.node.returns
    if returns is not None and _mentions_callable(returns.annotation):
        return True
    return any(ret.value is not None and _is_callable_value(ret.value, target, ctx) for ret in fn.returns)


def _is_callable_value(value: cst.BaseExpression, target: TaskTarget, ctx: RuleContext) -> bool:
    fn = target.function
    if isinstance(value, cst.IfExp):
        return _is_callable_value(value.body, target, ctx) or _is_callable_value(value.orelse, target, ctx)
    if isinstance(value, cst.BooleanOperation):
        return _is_callable_value(value.left, target, ctx) or _is_callable_value(value.right, target, ctx)
    if isinstance(value, cst.Lambda) or (isinstance(value, cst.Name) and fn.has_nested(value.value)):
        return True
    if isinstance(value, cst.Call) and isinstance(value.func, (cst.Name, cst.Attribute)):
        func = value.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value
        return name == "partial"
    if isinstance(value, (cst.Name, cst.Attribute)):
        sym = ctx.project.resolve_expr(value, target.module, fn)
        return sym is not None and (sym.function is not None or sym.cls is not None)  # `return send_email`
    return False


def _mentions_callable(annotation: cst.BaseExpression) -> bool:
    """``-> Callable[...]`` (or ``typing.Callable``, or the same as a string annotation)."""
    found: List[bool] = []

    class _Visitor(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == "Callable":
                found.append(True)

        def visit_SimpleString(self, node: cst.SimpleString) -> None:
            if "Callable" in node.value:
                found.append(True)

    annotation.visit(_Visitor())
    return bool(found)


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
    if _own_instance_with_async_add_task(site, ctx):
        return  # a subclass instance the code built itself, whose `async def add_task` is awaitable
    yield ctx.finding(AWAITED_ADD_TASK, parent, fix=_drop_await(parent, site, ctx))


def _own_instance_with_async_add_task(site: TaskSite, ctx: RuleContext) -> bool:
    # FastAPI injects a plain `BackgroundTasks()` even for a parameter annotated with a subclass
    # (fastapi/dependencies/utils.py, `solve_dependencies`), so only a constructed instance counts.
    receiver = site.receiver
    if isinstance(receiver, cst.Name) and site.function is not None:
        for scope in site.function.chain():
            if receiver.value in scope.assignments:
                receiver = scope.assignments[receiver.value][-1]
                break
    if not isinstance(receiver, cst.Call):
        return False
    sym = ctx.resolve(receiver.func, site.function)
    if sym is None or sym.cls is None:
        return False
    method = sym.cls.methods.get("add_task")
    return method is not None and method.is_async


def _drop_await(node: cst.Await, site: TaskSite, ctx: RuleContext) -> Optional[Fix]:
    if site.call.lpar:
        return None  # `await (tasks.add_task(...))`: leave the parentheses' owner alone
    start, _ = ctx.module.span(node)
    call_start, _ = ctx.module.span(site.call)
    return ctx.fix(Safety.SAFE, [ctx.delete_range(start, call_start)], "drop the `await`")


LATE_BINDING_LAMBDA = Rule(
    code="BG303",
    name="late-binding-lambda",
    severity=Severity.ERROR,
    fix=Safety.SAFE,
    summary="A lambda or closure task created in a loop captures the loop variable",
    message="the task reads `{name}` when it runs, after the loop ended, so every task sees its last value; pass `{name}` as an argument",
    why="""
        Tasks run after the response, long after the loop that scheduled them finished. A lambda
        or nested function looks its free variables up when it is *called*, so every task created
        in the loop sees the loop variable's final value: ten e-mails to the same address. The same
        holds for a name the loop body assigns on every iteration (`address = row.email`).
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str) -> None:
            print("sending to", to)


        @app.post("/newsletter")
        def newsletter(emails: list[str], tasks: BackgroundTasks):
            for email in emails:
                tasks.add_task(lambda: send_email(email))
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str) -> None:
            print("sending to", to)


        @app.post("/newsletter")
        def newsletter(emails: list[str], tasks: BackgroundTasks):
            for email in emails:
                tasks.add_task(send_email, email)
    """,
    fix_note="""
        `add_task(lambda: f(x, k=y))` becomes `add_task(f, x, k=y)`, which evaluates the
        arguments when the task is scheduled. Offered only for a lambda without parameters whose
        body is one call with plain names, attributes or literals as arguments.
    """,
    references=("https://docs.python.org/3/faq/programming.html#why-do-lambdas-defined-in-a-loop-with-different-values-all-return-the-same-result",),
)

TASK_SIGNATURE_MISMATCH = Rule(
    code="BG304",
    name="task-signature-mismatch",
    severity=Severity.ERROR,
    summary="The arguments handed over do not fit the task's signature",
    message="{problem}; the task fails with `TypeError` after the response, where only a log line shows it",
    why="""
        The hand-off stores the arguments without checking them. The call happens after the
        response was sent (or in a queue worker), so a missing argument, an unknown keyword or one
        positional too many raises `TypeError` where no client sees it, and the work is silently
        not done.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str, subject: str) -> None:
            print("sending", subject, "to", to)


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email, email, subjet="Welcome")
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str, subject: str) -> None:
            print("sending", subject, "to", to)


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email, email, subject="Welcome")
    """,
    references=("https://www.starlette.io/background/",),
)

DROPPED_CREATE_TASK = Rule(
    code="BG305",
    name="dropped-create-task",
    severity=Severity.WARNING,
    summary="A task started with `asyncio.create_task` during a request is not kept anywhere",
    message="the task from `{call}` is not kept: it can be garbage-collected before it finishes and its errors are lost; use `BackgroundTasks` or keep a reference",
    why="""
        The event loop keeps only a weak reference to tasks. A task whose result is dropped can be
        garbage-collected mid-flight, and an exception in it is reported, if at all, as "Task
        exception was never retrieved" long after the request. In an endpoint (or a helper it
        calls), `BackgroundTasks` runs the work after the response and logs its errors; otherwise
        keep the task in a set and discard it when done.
    """,
    bad="""
        import asyncio

        from fastapi import FastAPI

        app = FastAPI()


        async def refresh_cache(key: str) -> None:
            print("refreshing", key)


        @app.post("/items/{key}")
        async def update(key: str):
            asyncio.create_task(refresh_cache(key))
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        async def refresh_cache(key: str) -> None:
            print("refreshing", key)


        @app.post("/items/{key}")
        async def update(key: str, tasks: BackgroundTasks):
            tasks.add_task(refresh_cache, key)
    """,
    references=("https://docs.python.org/3/library/asyncio-task.html#asyncio.create_task", "https://docs.astral.sh/ruff/rules/asyncio-dangling-task/"),
)


# -- BG303 ------------------------------------------------------------------------------------
@LATE_BINDING_LAMBDA.on_site
def check_late_binding_lambda(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    if not site.mechanism.is_starlette or site.task_expr is None:
        return
    loop_vars = _enclosing_loop_targets(site.call, ctx.module)
    if not loop_vars:
        return
    task = site.task_expr
    if isinstance(task, cst.Lambda):
        bound = {p.name.value for p in _lambda_params(task)}  # `lambda x=x: ...` binds it now
        used = _names_in(task.body) - bound
        captured = sorted(used & loop_vars)
        if captured:
            yield ctx.finding(LATE_BINDING_LAMBDA, task, fix=_lambda_fix(site, task, ctx), name=captured[0])
        return
    if isinstance(task, cst.Name) and site.function is not None:
        nested = site.function.nested_def(task.value)
        if nested is None or not _inside(nested.node, site.call, ctx.module):
            return  # a closure defined outside the loop does not capture a fresh value either way
        params = {p.name for p in nested.params}
        captured = sorted((_names_in(nested.node.body) - params - set(nested.assignments)) & loop_vars)
        if captured:
            yield ctx.finding(LATE_BINDING_LAMBDA, task, name=captured[0])


def _lambda_params(node: cst.Lambda) -> List[cst.Param]:
    p = node.params
    return [*p.posonly_params, *p.params, *p.kwonly_params]


def _names_in(node: cst.CSTNode) -> Set[str]:
    found: Set[str] = set()

    class _Names(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

        def visit_Attribute(self, n: cst.Attribute) -> bool:
            n.value.visit(self)
            return False  # `obj.attr`: only `obj` is a name

    node.visit(_Names())
    return found


def _loop_targets(node: cst.CSTNode) -> Set[str]:
    """Names that take a new value on every iteration: the loop target and names assigned in the body."""
    if isinstance(node, cst.For):
        return _names_in(node.target) | _assigned_in(node.body)
    if isinstance(node, cst.While):
        return _assigned_in(node.body)
    if isinstance(node, (cst.CompFor,)):
        return _names_in(node.target)
    return set()


def _assigned_in(body: cst.CSTNode) -> Set[str]:
    """Names a loop body (re)binds in the function's own scope."""
    found: Set[str] = set()

    class _Targets(cst.CSTVisitor):
        def _add(self, target: cst.BaseExpression) -> None:
            if isinstance(target, cst.Name):
                found.add(target.value)
            elif isinstance(target, (cst.Tuple, cst.List)):
                for el in target.elements:
                    self._add(el.value)
            elif isinstance(target, cst.StarredElement):
                self._add(target.value)

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            self._add(node.target)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            if node.value is not None:
                self._add(node.target)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            self._add(node.target)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            self._add(node.target)

        def visit_For(self, node: cst.For) -> None:
            self._add(node.target)

        def visit_AsName(self, node: cst.AsName) -> None:
            if isinstance(node.name, (cst.Name, cst.Tuple, cst.List)):
                self._add(node.name)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False  # its own scope

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    body.visit(_Targets())
    return found


def _enclosing_loop_targets(node: cst.CSTNode, module: ModuleFacts) -> Set[str]:
    """Loop variables of every loop (and comprehension) around ``node`` inside its function."""
    out: Set[str] = set()
    cur = module.parent(node)
    while cur is not None and not isinstance(cur, (cst.FunctionDef, cst.Lambda, cst.Module)):
        out |= _loop_targets(cur)
        if isinstance(cur, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            comp = cur.for_in
            while comp is not None:
                out |= _loop_targets(comp)
                comp = comp.inner_for_in
        cur = module.parent(cur)
    return out


def _inside(inner: cst.CSTNode, node: cst.CSTNode, module: ModuleFacts) -> bool:
    """Whether ``inner`` is in the body of the innermost loop around ``node``."""
    loop = module.parent(node)
    while loop is not None and not isinstance(loop, (cst.For, cst.While, cst.FunctionDef)):
        loop = module.parent(loop)
    if not isinstance(loop, (cst.For, cst.While)):
        return False
    cur = module.parent(inner)
    while cur is not None:
        if cur is loop:
            return True
        cur = module.parent(cur)
    return False


_PLAIN = (cst.Name, cst.Attribute, cst.SimpleString, cst.Integer, cst.Float)


def _lambda_fix(site: TaskSite, task: cst.Lambda, ctx: RuleContext) -> Optional[Fix]:
    body = task.body
    if _lambda_params(task) or isinstance(task.params.star_arg, (cst.Param, cst.ParamStar)) or task.params.star_kwarg is not None:
        return None
    if not isinstance(body, cst.Call) or not isinstance(body.func, (cst.Name, cst.Attribute)) or body.lpar:
        return None
    if site.args or any(a.value is task and a.keyword is not None for a in site.call.args):
        return None
    for arg in body.args:
        if (isinstance(arg.star, str) and arg.star) or not isinstance(arg.value, _PLAIN):
            return None
    if isinstance(body.func, cst.Attribute) and not isinstance(body.func.value, (cst.Name, cst.Attribute)):
        return None
    text = ", ".join([ctx.code_for(body.func), *(_arg_text(a, ctx) for a in body.args)])
    return ctx.fix(Safety.SAFE, [ctx.replace(task, text)], "pass the function and its arguments instead of a lambda")


# -- BG304 ------------------------------------------------------------------------------------
# decorators that keep the signature (what they bind is already in `TaskTarget.bound`)
_TRANSPARENT_DECORATORS = frozenset({"staticmethod", "classmethod"})


@TASK_SIGNATURE_MISMATCH.on_site
def check_task_signature_mismatch(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    if site.mechanism is Mechanism.CREATE_TASK:
        return  # a direct call: Python raises in the request itself, type checkers see it
    target = ctx.target(site)
    if target is None:
        return
    skip = _implicit_params(target, site)
    if skip is None:
        return  # a decorator we do not know may change the signature
    params = target.function.params[skip:]
    problem = _bind(params, _merge_partial(target.partial_args, site.args), target.function.name)
    if problem is not None:
        yield ctx.finding(TASK_SIGNATURE_MISMATCH, site.call, problem=problem)


def _implicit_params(target: TaskTarget, site: TaskSite) -> Optional[int]:
    """How many leading parameters the caller does not pass (self, a bound Celery task, arq's ctx)."""
    fn = target.function
    skip = 1 if target.bound else 0
    for dec in fn.decorators:
        expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        name = expr.attr.value if isinstance(expr, cst.Attribute) else expr.value if isinstance(expr, cst.Name) else None
        if name in _TRANSPARENT_DECORATORS:
            continue
        if site.is_queue and name in ("task", "shared_task", "actor"):
            if isinstance(dec.decorator, cst.Call) and any(
                a.keyword is not None and a.keyword.value == "bind" and isinstance(a.value, cst.Name) and a.value.value == "True"
                for a in dec.decorator.args
            ):
                skip += 1  # `@app.task(bind=True)`: Celery passes the task itself first
            continue
        return None
    if site.mechanism is Mechanism.ARQ_ENQUEUE_JOB:
        skip += 1  # arq passes its worker context first
    return skip


def _merge_partial(partial: Sequence[TaskArg], given: Sequence[TaskArg]) -> List[TaskArg]:
    """The arguments as ``functools.partial`` passes them: its keywords give way to the call's.

    CPython's ``partial.__call__`` calls ``func(*self.args, *args, **{**self.keywords, **kwargs})``.
    """
    overridden = {a.keyword for a in given if a.keyword is not None}
    kept = [a for a in partial if a.keyword is None or a.keyword not in overridden]
    return [a for a in kept if a.keyword is None] + [a for a in given if a.keyword is None] + [
        a for a in (*kept, *given) if a.keyword is not None
    ]


def _bind(params: Sequence, args: Sequence[TaskArg], name: str) -> Optional[str]:
    positional = [a for a in args if a.keyword is None and not a.star]
    keywords = [a.keyword for a in args if a.keyword is not None]
    star = any(a.star == "*" for a in args)
    double_star = any(a.star == "**" for a in args)
    by_position = [p for p in params if p.kind in ("positional_only", "positional")]
    varargs = any(p.kind == "vararg" for p in params)
    varkw = any(p.kind == "kwarg" for p in params)
    if not star and len(positional) > len(by_position) and not varargs:
        return f"`{name}()` takes {len(by_position)} positional argument{'s' if len(by_position) != 1 else ''} but {len(positional)} were given"
    filled: Set[str] = {p.name for p in by_position[: len(positional)]}
    by_keyword = {p.name: p for p in params if p.kind in ("positional", "keyword_only")}
    positional_only = {p.name for p in params if p.kind == "positional_only"}
    for kw in keywords:
        if kw in filled and not star:
            return f"`{name}()` got multiple values for argument `{kw}`"
        if kw in by_keyword:
            filled.add(kw)
        elif not varkw:
            if kw in positional_only:
                return f"`{name}()` got positional-only argument `{kw}` passed as keyword"
            return f"`{name}()` got an unexpected keyword argument `{kw}`"
    if star or double_star:
        return None  # the rest depends on values only known at run time
    missing = [p.name for p in params if p.kind in ("positional_only", "positional", "keyword_only") and p.default is None and p.name not in filled]
    if missing:
        return f"`{name}()` is missing required argument `{missing[0]}`"
    return None


# -- BG305 ------------------------------------------------------------------------------------
_SPAWNERS = frozenset({"asyncio.create_task", "asyncio.ensure_future"})


@DROPPED_CREATE_TASK.on_module
def check_dropped_create_task(module: ModuleFacts, ctx: RuleContext) -> Iterator[Finding]:
    for call, fn in module.calls:
        if fn is None or module.qualify(call.func, fn) not in _SPAWNERS:
            continue
        if not isinstance(module.parent(call), cst.Expr):
            continue  # assigned, awaited, returned, passed on, kept in a set: someone holds it
        if not _reached_from_endpoint(fn, module, ctx):
            continue
        yield ctx.finding(DROPPED_CREATE_TASK, call, call=f"{ctx.code_for(call.func)}(...)")


def _reached_from_endpoint(fn: FunctionFacts, module: ModuleFacts, ctx: RuleContext) -> bool:
    """Whether an endpoint of this module runs ``fn``: it is one, or calls it through at most
    ``max-call-depth`` calls of this module's functions. Searched from ``fn`` up to its callers,
    so only the statements that mention a name on the way are parsed (not the whole module); not
    at all in a module whose text holds no route decorator."""
    if not may_hold_endpoints(module.source):
        return False
    frontier = [fn]
    seen = {id(fn)}
    for depth in range(ctx.settings.max_call_depth + 1):
        if any(is_endpoint(f, module) for f in frontier):
            return True
        if depth == ctx.settings.max_call_depth:
            break
        callers = []
        for callee in frontier:
            module.parse_mentioning(callee.name)
            for caller in list(module._all_functions):
                if id(caller) in seen:
                    continue
                if any(_calls_name(call, callee.name) and _local_callee(call.func, caller, module, ctx) is callee for call in caller.calls):
                    seen.add(id(caller))
                    callers.append(caller)
        frontier = callers
    return False


def _calls_name(call: cst.Call, name: str) -> bool:
    func = call.func
    return (isinstance(func, cst.Name) and func.value == name) or (isinstance(func, cst.Attribute) and func.attr.value == name)


def _local_callee(func: cst.BaseExpression, caller: FunctionFacts, module: ModuleFacts, ctx: RuleContext) -> Optional[FunctionFacts]:
    """The function of this module a call runs: a module/nested def, ``self.method`` or a module-level instance's method."""
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self" and caller.class_name:
        cls = next((c for c in module._all_classes if c.methods.get(caller.name) is caller), None)
        return cls.methods.get(func.attr.value) if cls is not None else None
    if isinstance(func, cst.Name):
        local = module.local_function(func.value, caller)
        if local is not None:
            return local
    qualified = module.qualify(func, caller) if isinstance(func, (cst.Name, cst.Attribute)) else None
    if qualified and qualified.startswith(module.name + "." if module.name else ""):
        # only a name of this module can run a function of this module: others are not resolved
        sym = ctx.project.resolve_expr(func, module, caller)
        if sym is not None and sym.function is not None and sym.module is module:
            return sym.function
    return None
