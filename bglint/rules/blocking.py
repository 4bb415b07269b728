"""BG2xx: event loop and threadpool.

BG201 blocking-call-in-async-task   a blocking call runs on the event loop inside an `async def` task
BG202 async-task-without-await      an `async def` task awaits nothing but blocks: it should be a `def`
BG203 redundant-threadpool-wrapper  `add_task(run_in_threadpool, fn)`: Starlette already does that
BG204 heavy-work-in-task            endless loops, long sleeps, heavy ML/data imports in a task

Runtime facts these rules rely on (Starlette ``BackgroundTask.__call__``): an async callable is
awaited on the event loop, a sync one is run with ``run_in_threadpool``. A blocking call inside an
``async def`` task therefore stalls every request the worker serves until it returns.
"""

from __future__ import annotations

import itertools
import os
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from bglint import names, sources, walk
from bglint.context import RuleContext
from bglint.data import BlockingCall
from bglint.facts import FunctionFacts, ModuleFacts, dotted
from bglint.handoffs import Mechanism, TaskSite, TaskTarget, awaited_in_request
from bglint.model import Finding, Fix, ImportNeed, Rule, Safety, Severity
from bglint.semantics import is_endpoint

BLOCKING_CALL_IN_ASYNC_TASK = Rule(
    code="BG201",
    name="blocking-call-in-async-task",
    severity=Severity.ERROR,
    fix=Safety.SAFE,
    summary="A blocking call runs on the event loop inside an `async def` background task",
    message="`{call}` blocks the event loop in async task `{task}`{chain}; {remedy}",
    why="""
        Starlette awaits an `async def` task on the event loop, after the response is sent. A
        blocking call inside it (`time.sleep`, `requests.get`, `open()`, a sync database session,
        `boto3`, `smtplib`, ...) holds the loop for its whole duration: every other request served
        by that worker waits. A plain `def` task would have been run in the threadpool instead.
        Blocking calls made by sync helpers the task calls count too; the message names the chain.
    """,
    bad="""
        import time

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        async def sync_inventory(sku: str) -> None:
            time.sleep(5)
            print("synced", sku)


        @app.post("/inventory/{sku}")
        async def refresh(sku: str, tasks: BackgroundTasks):
            tasks.add_task(sync_inventory, sku)
    """,
    good="""
        import asyncio

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        async def sync_inventory(sku: str) -> None:
            await asyncio.sleep(5)
            print("synced", sku)


        @app.post("/inventory/{sku}")
        async def refresh(sku: str, tasks: BackgroundTasks):
            tasks.add_task(sync_inventory, sku)
    """,
    fix_note="""
        `time.sleep(x)` becomes `await asyncio.sleep(x)`. Any other blocking call written as a
        statement, an assignment's value or a return value becomes `await asyncio.to_thread(f,
        *args, **kwargs)` (or `await run_in_threadpool(f, ...)` when the file already imports it);
        `import asyncio` is added once, or the file's existing alias is used. No fix for calls nested
        in larger expressions, `with open(...)` headers, or calls reached through helpers.
    """,
    options=("extra-blocking-calls", "max-call-depth"),
    references=(
        "https://www.starlette.io/background/",
        "https://fastapi.tiangolo.com/async/",
        "https://docs.python.org/3/library/asyncio-task.html#asyncio.to_thread",
    ),
)

ASYNC_TASK_WITHOUT_AWAIT = Rule(
    code="BG202",
    name="async-task-without-await",
    severity=Severity.WARNING,
    fix=Safety.UNSAFE,
    summary="An `async def` task awaits nothing but makes blocking calls",
    message="async task `{task}` awaits nothing but blocks on `{call}`; declare it with `def` so Starlette runs it in the threadpool",
    why="""
        An `async def` task with no `await` gains nothing from being a coroutine, and its blocking
        calls run on the event loop. Starlette runs a plain `def` task in its threadpool
        (`run_in_threadpool`), where blocking is harmless to other requests.
    """,
    bad="""
        import requests

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        async def ping_webhook(url: str) -> None:
            requests.post(url, json={"ok": True})


        @app.post("/hooks")
        async def hook(url: str, tasks: BackgroundTasks):
            tasks.add_task(ping_webhook, url)
    """,
    good="""
        import requests

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def ping_webhook(url: str) -> None:
            requests.post(url, json={"ok": True})


        @app.post("/hooks")
        async def hook(url: str, tasks: BackgroundTasks):
            tasks.add_task(ping_webhook, url)
    """,
    fix_note="""
        Drops `async`. Unsafe because something the project does not show could still await the
        function; offered only when the function is undecorated, is handed over with `add_task` /
        `BackgroundTask` only, and its name appears nowhere else in the modules read.
    """,
    references=("https://www.starlette.io/background/",),
)

REDUNDANT_THREADPOOL_WRAPPER = Rule(
    code="BG203",
    name="redundant-threadpool-wrapper",
    severity=Severity.WARNING,
    fix=Safety.SAFE,
    summary="A sync task is wrapped in `run_in_threadpool` / `asyncio.to_thread` at the hand-off",
    message="`{wrapper}` is redundant: Starlette already runs sync `{task}` in the threadpool; pass `{task}` directly",
    why="""
        Starlette runs a plain `def` task with `run_in_threadpool` itself. Handing over
        `run_in_threadpool, fn` (or `asyncio.to_thread, fn`) does the same thing through one more
        layer, and hides the real task from tracebacks, logs and tools.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI
        from fastapi.concurrency import run_in_threadpool

        app = FastAPI()


        def write_audit_log(event: str) -> None:
            print("audit", event)


        @app.post("/events")
        async def record(event: str, tasks: BackgroundTasks):
            tasks.add_task(run_in_threadpool, write_audit_log, event)
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def write_audit_log(event: str) -> None:
            print("audit", event)


        @app.post("/events")
        async def record(event: str, tasks: BackgroundTasks):
            tasks.add_task(write_audit_log, event)
    """,
    fix_note="Removes the wrapper argument: `add_task(run_in_threadpool, fn, x)` becomes `add_task(fn, x)`.",
    references=("https://www.starlette.io/background/",),
)

HEAVY_WORK_IN_TASK = Rule(
    code="BG204",
    name="heavy-work-in-task",
    severity=Severity.ADVICE,
    summary="Long-running or heavy work runs as an in-process background task",
    message="{what}; {remedy}",
    why="""
        In-process background tasks share the web worker: they die with it on every deploy or
        restart, are not retried, and compete with requests for CPU and memory. An endless loop, a
        sleep of minutes, or a task that loads a large ML/data library belongs in a job queue
        (Celery, RQ, Dramatiq, arq) or a process pool.
    """,
    bad="""
        import time

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def poll_forever(url: str) -> None:
            while True:
                print("polling", url)
                time.sleep(1)


        @app.post("/watch")
        def watch(url: str, tasks: BackgroundTasks):
            tasks.add_task(poll_forever, url)
    """,
    good="""
        import time

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def poll(url: str, attempts: int) -> None:
            for _ in range(attempts):
                print("polling", url)
                time.sleep(1)


        @app.post("/watch")
        def watch(url: str, tasks: BackgroundTasks):
            tasks.add_task(poll, url, 3)
    """,
    options=("heavy-modules", "bg204-sleep-threshold"),
    references=("https://fastapi.tiangolo.com/tutorial/background-tasks/#caveat",),
)

_ASYNCIO = ImportNeed("asyncio")
# Ways of running a callable in a worker thread; the callable is passed, not called.
_THREAD_RUNNERS = frozenset({"asyncio.to_thread", names.RUN_IN_THREADPOOL, "anyio.to_thread.run_sync"})
_SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "anyio.sleep", "trio.sleep"})


# -- finding blocking calls --------------------------------------------------------------------------
@dataclass(frozen=True)
class Blocked:
    """A blocking call made in a function: directly (``entry`` or an object method) or through a helper."""

    call: cst.Call
    entry: Optional[BlockingCall]  # the table entry of a direct call; None for methods and helpers
    hops: Tuple[str, ...] = ()  # helper chain down to the blocking call, ("render_pdf()", "open() at pdf.py:12")


class _Analyzer:
    """Finds blocking calls in functions, following sync helpers; memoised per rule context."""

    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = weakref.proxy(ctx)  # the context holds the analyzer (``ctx.shared``): no cycle
        self._direct: Dict[int, Dict[int, Blocked]] = {}
        self._helper: Dict[Tuple[int, int], Optional[Tuple[str, ...]]] = {}
        self._calls: Dict[int, List[cst.Call]] = {}

    def body_calls(self, fn: FunctionFacts, module: ModuleFacts) -> List[cst.Call]:
        key = id(fn)
        if key not in self._calls:
            self._calls[key] = _body_calls(fn)
        return self._calls[key]

    def blocking(self, fn: FunctionFacts, module: ModuleFacts, depth: int = 0, seen: Optional[Set[int]] = None) -> List[Blocked]:
        """Every blocking call of ``fn``'s own body, in source order (helpers within ``max-call-depth``)."""
        seen = set(seen or ()) | {id(fn)}
        out: List[Blocked] = []
        for call in self.body_calls(fn, module):
            direct = self._direct_entry(call, fn, module)
            if direct is not None:
                out.append(direct)
                continue
            if depth < self.ctx.settings.max_call_depth:
                hops = self._through_helper(call, fn, module, depth, seen)
                if hops:
                    out.append(Blocked(call, None, hops))
        return out

    def _direct_entry(self, call: cst.Call, fn: FunctionFacts, module: ModuleFacts) -> Optional[Blocked]:
        key = id(fn)
        if key not in self._direct:
            self._direct[key] = {id(b.call): b for b in self._direct_calls(fn, module)}
        return self._direct[key].get(id(call))

    def _direct_calls(self, fn: FunctionFacts, module: ModuleFacts) -> List[Blocked]:
        """Calls of ``fn``'s body that block by themselves: table entries and methods of known objects."""
        tables = self.ctx.tables
        objects = _objects_of(fn, module, self.ctx)
        used: Set[str] = set()  # objects whose first blocking method call is already reported
        out: List[Blocked] = []
        for call in self.body_calls(fn, module):
            entry = tables.blocking_call(module.qualify(call.func, fn))
            if entry is not None:
                out.append(Blocked(call, entry))
                continue
            func = call.func
            if not isinstance(func, cst.Attribute):
                continue
            receiver, method = func.value, func.attr.value
            if isinstance(receiver, cst.Call):
                if tables.method_blocks(_built_by(receiver, fn, module, self.ctx), method):
                    out.append(Blocked(call, None))
            elif isinstance(receiver, cst.Name) and receiver.value not in used:
                if tables.method_blocks(objects.get(receiver.value), method):
                    used.add(receiver.value)
                    out.append(Blocked(call, None))
        return out

    def _through_helper(self, call: cst.Call, fn: FunctionFacts, module: ModuleFacts, depth: int, seen: Set[int]) -> Tuple[str, ...]:
        if not isinstance(call.func, (cst.Name, cst.Attribute)):
            return ()
        sym = self.ctx.project.resolve_expr(call.func, module, fn)
        helper = sym.function if sym is not None else None
        if sym is None or helper is None or helper.is_async or helper.is_generator or id(helper) in seen:
            return ()  # only sync helpers run their body when called
        key = (id(helper), depth)  # what is found depends on the depth left
        if key not in self._helper:
            self._helper[key] = None
            found = self.blocking(helper, sym.module, depth + 1, seen)
            if found:
                first = found[0]
                here = f"{sym.module.code_for(first.call.func)}()"
                tail = first.hops if first.hops else (f"{here} at {_where(first.call, sym.module)}",)
                self._helper[key] = tail
        tail = self._helper[key]
        if not tail:
            return ()
        return (f"{module.code_for(call.func)}()", *tail)


def _where(node: cst.CSTNode, module: ModuleFacts) -> str:
    return f"{os.path.basename(module.path)}:{module.position(node).start.line}"


def _body_calls(fn: FunctionFacts) -> List[cst.Call]:
    """Calls that run when ``fn``'s body runs, on its own thread: not awaited, not in a lambda or a
    nested def, not in decorators or defaults."""
    collector = _BodyCalls()
    walk.walk(fn.node.body, collector)
    return [c for c in fn.calls if id(c) in collector.calls]


class _BodyCalls:
    """Hooks for :func:`walk.walk`."""

    def __init__(self) -> None:
        self.calls: Set[int] = set()
        self._awaited: Set[int] = set()
        self._lambdas = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested def's body runs when (and where) it is called

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._lambdas += 1

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self._lambdas -= 1

    def visit_Await(self, node: cst.Await) -> None:
        self._awaited.add(id(node.expression))

    def visit_Call(self, node: cst.Call) -> None:
        # an awaited call is a coroutine (a sync one would not be awaitable)
        if not self._lambdas and id(node) not in self._awaited:
            self.calls.add(id(node))


def _built_by(expr: cst.BaseExpression, fn: Optional[FunctionFacts], module: ModuleFacts, ctx: RuleContext, depth: int = 0) -> Optional[str]:
    """The table key of the object ``expr`` builds: ``boto3.client("s3")`` -> "boto3.client",
    ``SessionLocal()`` with ``SessionLocal = sessionmaker(...)`` -> "sqlalchemy.orm.Session"."""
    if not isinstance(expr, cst.Call) or depth > 3:
        return None
    tables = ctx.tables
    qual = module.qualify(expr.func, fn)
    if qual in tables.blocking_methods:
        return qual
    if isinstance(expr.func, (cst.Name, cst.Attribute)):
        value, where = ctx.project.follow_value(expr.func, module, fn)
        if isinstance(value, cst.Call):
            factory = where.qualify(value.func)
            if factory in tables.object_factories:
                return tables.object_factories[factory]
    return None


def _objects_of(fn: FunctionFacts, module: ModuleFacts, ctx: RuleContext) -> Dict[str, str]:
    """Names in ``fn`` bound to objects of the table: built here, parameters typed so, module objects."""
    tables = ctx.tables
    out: Dict[str, str] = {}
    for name, info in ctx.params(fn, module).items():
        known = sorted(t for t in info.type.types if t in tables.blocking_methods)
        if known:
            out[name] = known[0]
    for name, values in fn.assignments.items():
        if fn.param(name) is not None:
            continue
        kinds = {_built_by(v, fn, module, ctx) for v in values}
        if len(kinds) == 1 and None not in kinds:
            out[name] = kinds.pop()  # type: ignore[assignment]
    for call in fn.calls:
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        if isinstance(receiver, cst.Name) and receiver.value not in out and not fn.binds(receiver.value):
            value, where = ctx.project.follow_value(receiver, module, fn)
            if value is not receiver:
                kind = _built_by(value, None, where, ctx)
                if kind is not None:
                    out[receiver.value] = kind
    return out


def _analyzer(ctx: RuleContext) -> _Analyzer:
    """The analyzer of the module being linted, shared by BG201 and BG202."""
    found = ctx.shared.get("blocking")
    if found is None:
        found = ctx.shared["blocking"] = _Analyzer(ctx)
    return found


# -- BG201 ---------------------------------------------------------------------------------------------
@BLOCKING_CALL_IN_ASYNC_TASK.on_task
def check_blocking_call_in_async_task(task: TaskTarget, ctx: RuleContext) -> Iterator[Finding]:
    fn = task.function
    if not (task.is_async and fn.is_async):
        return  # Starlette runs a sync task in the threadpool, where blocking is fine
    module = ctx.module
    for blocked in _analyzer(ctx).blocking(fn, module):
        culprit = f"{ctx.code_for(blocked.call.func)}()"
        chain = f": calls {' -> '.join(blocked.hops)}" if blocked.hops else ""
        sleeps = blocked.entry is not None and blocked.entry.replacement == "asyncio.sleep"
        runner = _thread_runner(ctx)
        if sleeps:
            remedy = f"use `await {_asyncio_name(ctx)}.sleep()`"
        else:
            remedy = f"run it in a worker thread with `await {runner}()`"
        fix = None if blocked.hops else _await_fix(blocked, sleeps, ctx)
        yield ctx.finding(BLOCKING_CALL_IN_ASYNC_TASK, blocked.call, fix=fix, call=culprit, task=fn.qualname, chain=chain, remedy=remedy)


def _asyncio_name(ctx: RuleContext) -> str:
    return ctx.bound_name(_ASYNCIO) or "asyncio"


def _threadpool_name(ctx: RuleContext) -> Optional[str]:
    """The local name of an already imported ``run_in_threadpool`` (FastAPI's or Starlette's)."""
    for local, qual in ctx.module.imports.items():
        if names.canonical(qual) == names.RUN_IN_THREADPOOL:
            return local
    return None


def _thread_runner(ctx: RuleContext) -> str:
    return _threadpool_name(ctx) or f"{_asyncio_name(ctx)}.to_thread"


def _await_fix(blocked: Blocked, sleeps: bool, ctx: RuleContext) -> Optional[Fix]:
    call = blocked.call
    parent = ctx.module.parent(call)
    placed = isinstance(parent, cst.Expr) or (
        isinstance(parent, (cst.Assign, cst.AnnAssign, cst.Return)) and parent.value is call
    )
    if not placed or call.lpar or dotted(call.func) is None:
        return None  # nested in a bigger expression: adding `await` there is not ours to decide
    func_text = ctx.code_for(call.func)
    rest = ctx.code_for(call)[len(func_text) :].strip()
    if not (rest.startswith("(") and rest.endswith(")")):
        return None
    imports = [] if ctx.bound_name(_ASYNCIO) else [_ASYNCIO]
    if sleeps:
        text = f"await {_asyncio_name(ctx)}.sleep{rest}"
        return ctx.fix(Safety.SAFE, [ctx.replace(call, text)], "use `await asyncio.sleep()`", imports)
    inner = rest[1:-1]
    pool = _threadpool_name(ctx)
    if pool is not None:
        if any(a.keyword is not None and a.keyword.value == "func" for a in call.args):
            return None  # `run_in_threadpool(func, ...)` would take the keyword for itself
        runner, imports = pool, []
    else:
        runner = f"{_asyncio_name(ctx)}.to_thread"
    if not inner.strip():
        args = func_text
    elif inner[:1] in ("\n", "\r"):
        # one argument per line: put the function on its own line, indented like the first argument
        first = inner.lstrip("\r\n")
        indent = first[: len(first) - len(first.lstrip(" \t"))]
        args = f"{inner[: len(inner) - len(first)]}{indent}{func_text},{inner}"
    else:
        args = f"{func_text}, {inner.lstrip(' ')}"
    text = f"await {runner}({args})"
    return ctx.fix(Safety.SAFE, [ctx.replace(call, text)], f"run it with `await {runner}()`", imports)


# -- BG202 ---------------------------------------------------------------------------------------------
@ASYNC_TASK_WITHOUT_AWAIT.on_task
def check_async_task_without_await(task: TaskTarget, ctx: RuleContext) -> Iterator[Finding]:
    fn = task.function
    if not (task.is_async and fn.is_async) or fn.awaits or fn.is_generator:
        return
    if not task.sites or not all(s.mechanism.is_starlette for s in task.sites):
        return  # create_task and the queues need a coroutine function: `def` would break them
    found = _analyzer(ctx).blocking(fn, ctx.module)
    if not found:
        return  # nothing blocks: a coroutine without awaits is harmless
    culprit = f"{ctx.code_for(found[0].call.func)}()"
    yield ctx.finding(ASYNC_TASK_WITHOUT_AWAIT, fn.node.name, fix=_drop_async(task, ctx), task=fn.qualname, call=culprit)


def _drop_async(task: TaskTarget, ctx: RuleContext) -> Optional[Fix]:
    fn = task.function
    if task.bound or fn.decorators or fn.class_name is not None or fn.parent is not None:
        return None  # decorators and methods may rely on a coroutine function
    if not _only_handed_over(task, ctx):
        return None
    text = ctx.code_for(fn.node)
    if not text.startswith("async"):
        return None
    rest = text[len("async") :].lstrip(" \t")
    if not rest.startswith("def"):
        return None
    # the edit covers the whole def so that no other fix inside it (an added `await`) lands in the same round
    return ctx.fix(Safety.UNSAFE, [ctx.replace(fn.node, rest)], "declare the task with `def`")


def _only_handed_over(task: TaskTarget, ctx: RuleContext) -> bool:
    """Whether the function's name appears, in every file read in this run, only in its def, in
    import lines and inside its hand-offs (so nothing else can be awaiting it)."""
    fn = task.function
    word = re.compile(rf"\b{re.escape(fn.name)}\b")
    allowed: Dict[Path, List[Tuple[int, int]]] = {}
    for site in task.sites:
        allowed.setdefault(Path(site.module.path).resolve(), []).append(site.module.span(site.call))
    here = Path(ctx.module.path).resolve()
    allowed.setdefault(here, []).append(ctx.module.span(fn.node.name))
    # the module's own text first; every other file's as the project read it, one at a time
    texts = itertools.chain([(here, ctx.module.source)], ((p, t) for p, t in ctx.project.texts() if p != here))
    for path, text in texts:
        spans = allowed.get(path, [])
        for m in word.finditer(text):
            if any(s <= m.start() < e for s, e in spans):
                continue
            line_start = sources.line_start(text, m.start())
            if text[line_start:].lstrip().startswith(("from ", "import ")):
                continue
            return False
    return True


# -- BG203 ---------------------------------------------------------------------------------------------
@REDUNDANT_THREADPOOL_WRAPPER.on_site
def check_redundant_threadpool_wrapper(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    if not site.mechanism.is_starlette or site.task_expr is None:
        return
    wrapper = ctx.qualify(site.task_expr, site.function)
    if wrapper not in (names.RUN_IN_THREADPOOL, "asyncio.to_thread"):
        return
    if not site.args or site.args[0].keyword is not None or site.args[0].star:
        return
    inner = site.args[0].value
    if not _is_sync_callable(inner, site, ctx):
        return  # an async or unknown callable: the wrapper may be doing something
    yield ctx.finding(
        REDUNDANT_THREADPOOL_WRAPPER,
        site.task_expr,
        fix=_unwrap_fix(site, inner, ctx),
        wrapper=ctx.code_for(site.task_expr),
        task=ctx.code_for(inner),
    )


def _is_sync_callable(expr: cst.BaseExpression, site: TaskSite, ctx: RuleContext) -> bool:
    target = ctx.handoffs.callable_target(expr, site.module, site.function)
    if target is not None:
        return not target.is_async
    # not in the project: library calls of the blocking table are plain functions
    return ctx.tables.blocking_call(ctx.qualify(expr, site.function)) is not None


def _unwrap_fix(site: TaskSite, inner: cst.BaseExpression, ctx: RuleContext) -> Optional[Fix]:
    task_arg = next((a for a in site.call.args if a.value is site.task_expr), None)
    if task_arg is None or task_arg.keyword is not None:
        return None
    start, _ = ctx.module.span(site.task_expr)  # type: ignore[arg-type]
    end, _ = ctx.module.span(inner)
    return ctx.fix(Safety.SAFE, [ctx.delete_range(start, end)], "hand over the sync function directly")


# -- BG204 ---------------------------------------------------------------------------------------------
@HEAVY_WORK_IN_TASK.on_task
def check_heavy_work_in_task(task: TaskTarget, ctx: RuleContext) -> Iterator[Finding]:
    fn = task.function
    if not any(_per_request(site) for site in task.sites):
        return  # a job-queue task already runs on a worker; a service loop started at startup is meant to run forever
    name = fn.qualname
    queue = "move it to a job queue (Celery, RQ, Dramatiq, arq) or a process pool"
    for loop in _endless_loops(fn.node.body):
        yield ctx.finding(HEAVY_WORK_IN_TASK, loop, what=f"endless `while True` loop in task `{name}`", remedy=queue)
    threshold = ctx.settings.bg204_sleep_threshold
    for call in fn.calls:
        qual = ctx.qualify(call.func, fn)
        if qual in _SLEEPS and call.args and not call.args[0].keyword:
            seconds = _number(call.args[0].value)
            if seconds is not None and seconds > threshold:
                what = f"`{ctx.code_for(call.func)}({ctx.code_for(call.args[0].value)})` in task `{name}` sleeps over {threshold:g} s"
                yield ctx.finding(HEAVY_WORK_IN_TASK, call, what=what, remedy="schedule it with a job queue instead")
    for node, module_name in _heavy_imports(ctx.module.top_statements(), ctx):
        yield ctx.finding(HEAVY_WORK_IN_TASK, node, what=f"heavy module `{module_name}` is loaded by the module of task `{name}`", remedy=queue)
    for node, module_name in _heavy_imports(_statements(fn.node.body), ctx):
        yield ctx.finding(HEAVY_WORK_IN_TASK, node, what=f"heavy module `{module_name}` is imported in task `{name}`", remedy=queue)


def _per_request(site: TaskSite) -> bool:
    """A hand-off that starts the task for one request: Starlette's, or `create_task` in an endpoint
    that does not wait for it (a task it awaits is the request's own work, done when it ends)."""
    if site.mechanism.is_starlette:
        return True
    return (
        site.mechanism is Mechanism.CREATE_TASK
        and site.function is not None
        and is_endpoint(site.function, site.module)
        and not awaited_in_request(site)
    )


def _statements(body: cst.BaseSuite) -> List[cst.CSTNode]:
    """The statements of a function body, descending into if/try/with/for blocks but not defs."""
    out: List[cst.CSTNode] = []
    stack: List[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.SimpleStatementLine):
            out.append(node)
            continue
        stack.extend(reversed(node.children))
    return out


def _heavy_imports(statements: Sequence[cst.CSTNode], ctx: RuleContext) -> Iterator[Tuple[cst.CSTNode, str]]:
    heavy = ctx.tables.heavy_modules
    for stmt in statements:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    full = dotted(alias.name) or ""
                    if _is_heavy(full, heavy):
                        yield small, full
            elif isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
                full = dotted(small.module) or ""
                if _is_heavy(full, heavy):
                    yield small, full


def _is_heavy(module: str, heavy: FrozenSet[str]) -> bool:
    return any(module == h or module.startswith(h + ".") for h in heavy)


def _endless_loops(body: cst.BaseSuite) -> Iterator[cst.While]:
    for node in _walk_no_defs(body):
        if isinstance(node, cst.While) and _always_true(node.test) and not _exits(node.body):
            yield node


def _walk_no_defs(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    for child in node.children:
        if isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        yield child
        yield from _walk_no_defs(child)


def _always_true(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.Name):
        return test.value == "True"
    if isinstance(test, cst.Integer):
        return test.evaluated_value != 0
    return False


def _exits(node: cst.CSTNode) -> bool:
    """Whether a loop body can leave the loop: `break` (not of an inner loop), `return`, `raise`."""
    for child in node.children:
        if isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(child, (cst.Return, cst.Raise)):
            return True
        if isinstance(child, cst.Break):
            return True
        if isinstance(child, (cst.For, cst.While)):
            # a break there leaves the inner loop only; returns and raises still leave ours
            if _leaves_function(child):
                return True
            continue
        if _exits(child):
            return True
    return False


def _leaves_function(node: cst.CSTNode) -> bool:
    for child in node.children:
        if isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(child, (cst.Return, cst.Raise)) or _leaves_function(child):
            return True
    return False


def _number(expr: cst.BaseExpression) -> Optional[float]:
    """A literal number of seconds, including simple products such as ``60 * 60``."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return float(expr.evaluated_value)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
        left, right = _number(expr.left), _number(expr.right)
        return left * right if left is not None and right is not None else None
    return None
