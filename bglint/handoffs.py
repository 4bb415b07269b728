"""Hand-offs: the places where a callable is given to something that runs it later.

This is the only module that knows what a hand-off looks like: ``tasks.add_task(fn, ...)`` on a
``BackgroundTasks`` (found by what the receiver *is*, never by its spelling), ``BackgroundTask(fn,
...)``, coroutines started with ``asyncio.create_task``, and the queue hand-offs of the hybrid
migration path (Celery ``.delay``/``.apply_async``, RQ ``enqueue``, Dramatiq ``.send``, arq
``enqueue_job``). Each becomes a :class:`TaskSite`; the function that will run is its
:class:`TaskTarget`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, Iterator, List, Optional, Tuple

import libcst as cst

from bglint import names, walk
from bglint.facts import FunctionFacts, ModuleFacts
from bglint.project import Project, Symbol
from bglint.semantics import ParamInfo, Semantics


class Mechanism(str, Enum):
    ADD_TASK = "add_task"
    BACKGROUND_TASK = "BackgroundTask"
    CREATE_TASK = "create_task"
    CELERY_DELAY = "delay"
    CELERY_APPLY_ASYNC = "apply_async"
    RQ_ENQUEUE = "enqueue"
    DRAMATIQ_SEND = "send"
    ARQ_ENQUEUE_JOB = "enqueue_job"

    @property
    def is_queue(self) -> bool:
        return self in _QUEUES

    @property
    def is_starlette(self) -> bool:
        return self in (Mechanism.ADD_TASK, Mechanism.BACKGROUND_TASK)


_QUEUES = frozenset({Mechanism.CELERY_DELAY, Mechanism.CELERY_APPLY_ASYNC, Mechanism.RQ_ENQUEUE, Mechanism.DRAMATIQ_SEND, Mechanism.ARQ_ENQUEUE_JOB})


class Origin(str, Enum):
    """Where the ``BackgroundTasks`` an ``add_task`` is called on comes from."""

    INJECTED = "injected"  # a parameter annotated with the type: FastAPI attaches it to the response
    CONSTRUCTED = "constructed"  # ``BackgroundTasks()`` built in the function
    FACTORY = "factory"  # returned by a project function
    DEPENDENCY = "dependency"  # a ``Depends(factory)`` parameter not annotated with the type


@dataclass(frozen=True)
class TaskArg:
    """One argument the task will receive: ``keyword=value``, ``*value``, ``**value`` or positional."""

    value: cst.BaseExpression
    keyword: Optional[str] = None
    star: str = ""  # "", "*" or "**"
    node: Optional[cst.Arg] = None  # the written ``cst.Arg``, when there is one


@dataclass(eq=False)
class TaskSite:
    module: ModuleFacts
    call: cst.Call
    mechanism: Mechanism
    function: Optional[FunctionFacts]
    task_expr: Optional[cst.BaseExpression]
    args: Tuple[TaskArg, ...]
    receiver: Optional[cst.BaseExpression] = None
    origin: Optional[Origin] = None
    receiver_param: Optional[ParamInfo] = None
    task_name: Optional[str] = None  # arq: the job name string

    @property
    def is_queue(self) -> bool:
        return self.mechanism.is_queue


@dataclass(eq=False)
class TaskTarget:
    """The function that runs for a hand-off, as Starlette (or the worker) will call it."""

    module: ModuleFacts
    function: FunctionFacts
    is_async: bool
    bound: bool = False  # reached as a bound method / instance ``__call__``: ``self`` is not passed
    partial_args: Tuple[TaskArg, ...] = ()
    sites: List[TaskSite] = field(default_factory=list)


_RQ_OPTIONS = frozenset(
    {"job_timeout", "result_ttl", "ttl", "failure_ttl", "description", "depends_on", "job_id", "at_front", "meta",
     "retry", "on_success", "on_failure", "on_stopped", "pipeline", "timeout", "repeat", "group_id"}
)


def _call_args(args: Tuple[cst.Arg, ...]) -> Tuple[TaskArg, ...]:
    out = []
    for a in args:
        star = a.star if isinstance(a.star, str) else ""
        out.append(TaskArg(a.value, a.keyword.value if a.keyword is not None else None, star, a))
    return tuple(out)


def _literal_args(expr: Optional[cst.BaseExpression]) -> Tuple[TaskArg, ...]:
    """``args=[a, b]`` / ``kwargs={"k": v}`` of apply_async, as task arguments (non-literals as a star)."""
    if expr is None:
        return ()
    if isinstance(expr, (cst.List, cst.Tuple)):
        return tuple(TaskArg(el.value, None, "*" if isinstance(el, cst.StarredElement) else "") for el in expr.elements)
    if isinstance(expr, cst.Dict):
        out = []
        for el in expr.elements:
            if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                out.append(TaskArg(el.value, str(el.key.evaluated_value)))
            elif isinstance(el, cst.StarredDictElement):
                out.append(TaskArg(el.value, None, "**"))
        return tuple(out)
    return (TaskArg(expr, None, "*"),)


class HandoffFinder:
    """Finds the hand-offs of a module and resolves their targets; memoised per run."""

    def __init__(self, project: Project, semantics: Semantics) -> None:
        self.project = project
        self.semantics = semantics
        self._sites: Dict[int, List[TaskSite]] = {}
        self._targets: Dict[int, Optional[TaskTarget]] = {}

    # -- sites ----------------------------------------------------------------------------
    def sites(self, module: ModuleFacts) -> List[TaskSite]:
        return self.project.memo(self._sites, id(module), lambda: self._find_sites(module))

    def _find_sites(self, module: ModuleFacts) -> List[TaskSite]:
        self.project.depend(module.path)  # whoever asks again depends on its text
        found = []
        for call, fn in module.calls:
            site = self._site(call, fn, module)
            if site is not None:
                found.append(site)
        return found

    def _site(self, call: cst.Call, fn: Optional[FunctionFacts], module: ModuleFacts) -> Optional[TaskSite]:
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "add_task":
                origin, param = self.background_tasks_origin(func.value, fn, module)
                if origin is None:
                    return None
                task, rest = _first(call.args, "func")
                return TaskSite(module, call, Mechanism.ADD_TASK, fn, task, rest, func.value, origin, param)
            if method in ("delay", "apply_async", "send", "send_with_options"):
                return self._decorated_task_site(call, func, method, fn, module)
            if method in ("enqueue", "enqueue_call") and self._is_rq_queue(func.value, fn, module):
                task, rest = _first(call.args, "f" if method == "enqueue" else "func")
                kw = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
                # `enqueue(f, args=(1,), kwargs={...})` is RQ's explicit form, like `enqueue_call`
                # (rq/queue.py `parse_args`: "Detect explicit invocations")
                if method == "enqueue_call" or "args" in kw or "kwargs" in kw:
                    rest = _literal_args(kw.get("args")) + _literal_args(kw.get("kwargs"))
                rest = tuple(a for a in rest if a.keyword not in _RQ_OPTIONS)
                return TaskSite(module, call, Mechanism.RQ_ENQUEUE, fn, task, rest, func.value)
            if method == "enqueue_job" and call.args and isinstance(call.args[0].value, cst.SimpleString):
                name = call.args[0].value.evaluated_value
                rest = tuple(a for a in _call_args(call.args[1:]) if not (a.keyword or "").startswith("_"))
                return TaskSite(module, call, Mechanism.ARQ_ENQUEUE_JOB, fn, None, rest, func.value, task_name=str(name))
        qual = module.qualify(func, fn)
        if qual == names.BACKGROUND_TASK:
            task, rest = _first(call.args, "func")
            return TaskSite(module, call, Mechanism.BACKGROUND_TASK, fn, task, rest)
        if qual in ("asyncio.create_task", "asyncio.ensure_future") and call.args:
            coro = call.args[0].value
            if isinstance(coro, cst.Call):
                return TaskSite(module, call, Mechanism.CREATE_TASK, fn, coro.func, _call_args(coro.args))
        return None

    def _decorated_task_site(self, call: cst.Call, func: cst.Attribute, method: str, fn: Optional[FunctionFacts], module: ModuleFacts) -> Optional[TaskSite]:
        sym = self.project.resolve_expr(func.value, module, fn)
        if sym is None or sym.function is None:
            return None
        kind = _queue_kind(sym.function, sym.module)
        if kind is None:
            return None
        if kind == "celery" and method == "delay":
            return TaskSite(module, call, Mechanism.CELERY_DELAY, fn, func.value, _call_args(call.args), func.value)
        if kind == "celery" and method == "apply_async":
            args, kwargs = _apply_async_parts(call)
            return TaskSite(module, call, Mechanism.CELERY_APPLY_ASYNC, fn, func.value, _literal_args(args) + _literal_args(kwargs), func.value)
        if kind == "dramatiq" and method == "send":
            return TaskSite(module, call, Mechanism.DRAMATIQ_SEND, fn, func.value, _call_args(call.args), func.value)
        if kind == "dramatiq" and method == "send_with_options":
            args, kwargs = _apply_async_parts(call)
            return TaskSite(module, call, Mechanism.DRAMATIQ_SEND, fn, func.value, _literal_args(args) + _literal_args(kwargs), func.value)
        return None

    def background_tasks_origin(self, expr: cst.BaseExpression, fn: Optional[FunctionFacts], module: ModuleFacts) -> Tuple[Optional[Origin], Optional[ParamInfo]]:
        """Whether ``expr`` is a Starlette ``BackgroundTasks``, and where it comes from."""
        if isinstance(expr, cst.Call):
            return (Origin.CONSTRUCTED, None) if self._constructs_background_tasks(expr, fn, module) else (None, None)
        if not isinstance(expr, cst.Name) or fn is None:
            return None, None
        name = expr.value
        for scope in fn.chain():
            if scope.param(name) is not None:
                info = self.semantics.params(scope, module)[name]
                if info.is_background_tasks:
                    return Origin.INJECTED, info
                dep = info.dependency
                if dep is not None and dep.function is not None and self._returns_background_tasks(dep.function, dep.target.module):  # type: ignore[union-attr]
                    return Origin.DEPENDENCY, info
                return None, None
            values = scope.assignments.get(name)
            if values:
                value = values[-1]
                if isinstance(value, cst.Call):
                    if self._constructs_background_tasks(value, scope, module):
                        return Origin.CONSTRUCTED, None
                    sym = self.project.resolve_expr(value.func, module, scope)
                    if sym is not None and sym.function is not None and self._returns_background_tasks(sym.function, sym.module):
                        return Origin.FACTORY, None
                return None, None
        return None, None

    def _constructs_background_tasks(self, call: cst.Call, fn: Optional[FunctionFacts], module: ModuleFacts) -> bool:
        if module.qualify(call.func, fn) == names.BACKGROUND_TASKS:
            return True
        sym = self.project.resolve_expr(call.func, module, fn)
        return sym is not None and sym.cls is not None and self.semantics.is_background_tasks_subclass(sym.cls, sym.module)

    def _returns_background_tasks(self, fn: FunctionFacts, module: ModuleFacts) -> bool:
        returns = fn.node.returns
        if returns is not None and names.BACKGROUND_TASKS in self.semantics.type_info(returns.annotation, module, fn.parent).types:
            return True
        for ret in fn.returns:
            if isinstance(ret.value, cst.Call) and self._constructs_background_tasks(ret.value, fn, module):
                return True
        for y in fn.yields:
            if isinstance(y.value, cst.Call) and self._constructs_background_tasks(y.value, fn, module):
                return True
        return False

    def _is_rq_queue(self, expr: cst.BaseExpression, fn: Optional[FunctionFacts], module: ModuleFacts) -> bool:
        if isinstance(expr, cst.Call):
            return module.qualify(expr.func, fn) in ("rq.Queue", "rq.queue.Queue")
        if isinstance(expr, cst.Name):
            info = self.semantics.param_for(expr.value, fn, module)
            if info is not None:
                return bool(info.type.types & {"rq.Queue", "rq.queue.Queue"})
            if fn is not None:
                for scope in fn.chain():
                    if expr.value in scope.assignments:
                        return self._is_rq_queue(scope.assignments[expr.value][-1], scope, module)
            value, where = self.project.follow_value(expr, module, fn)
            if value is not expr:
                return self._is_rq_queue(value, None, where)
        return False

    # -- targets --------------------------------------------------------------------------
    def target(self, site: TaskSite) -> Optional[TaskTarget]:
        return self.project.memo(self._targets, id(site), lambda: self._resolve_target(site))

    def _resolve_target(self, site: TaskSite) -> Optional[TaskTarget]:
        module, fn = site.module, site.function
        self.project.depend(module.path)
        if site.mechanism is Mechanism.ARQ_ENQUEUE_JOB:
            local = module.local_function(site.task_name or "", fn) or module.functions.get(site.task_name or "")
            if local is None and site.task_name in module.imports:
                sym = self.project.resolve(module.imports[site.task_name], module)
                if sym is not None and sym.function is not None:
                    return TaskTarget(sym.module, sym.function, sym.function.is_async, sites=[site])
            return TaskTarget(module, local, local.is_async, sites=[site]) if local is not None else None
        if site.task_expr is None:
            return None
        return self.callable_target(site.task_expr, module, fn, site)

    def callable_target(self, expr: cst.BaseExpression, module: ModuleFacts, fn: Optional[FunctionFacts], site: Optional[TaskSite] = None, _depth: int = 0) -> Optional[TaskTarget]:
        """Resolve a callable expression to the def that will run (partials and instances included)."""
        if _depth > 6:
            return None
        sites = [site] if site is not None else []
        if isinstance(expr, cst.Call) and module.qualify(expr.func, fn) == names.FUNCTOOLS_PARTIAL and expr.args:
            inner = self.callable_target(expr.args[0].value, module, fn, site, _depth + 1)
            if inner is None:
                return None
            return TaskTarget(inner.module, inner.function, inner.is_async, inner.bound, inner.partial_args + _call_args(expr.args[1:]), sites)
        if isinstance(expr, cst.Name) and fn is not None:
            for scope in fn.chain():
                if expr.value in scope.assignments and not scope.has_nested(expr.value):
                    value = scope.assignments[expr.value][-1]
                    return self.callable_target(value, module, scope, site, _depth + 1) if isinstance(value, cst.Call) else None
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        sym = self.project.resolve_expr(expr, module, fn)
        return self._symbol_target(sym, sites, _depth, self._through_class(expr, module, fn))

    def _through_class(self, expr: cst.BaseExpression, module: ModuleFacts, fn: Optional[FunctionFacts]) -> bool:
        """``Mailer.send`` (a plain function, ``self`` not bound) rather than ``mailer.send``."""
        if not isinstance(expr, cst.Attribute):
            return False
        base = self.project.resolve_expr(expr.value, module, fn)
        return base is not None and base.cls is not None

    def _symbol_target(self, sym: Optional[Symbol], sites: List[TaskSite], depth: int, through_class: bool = False) -> Optional[TaskTarget]:
        if sym is None:
            return None
        if sym.function is not None:
            bound = sym.function.class_name is not None and _is_bound_access(sym, through_class)
            return TaskTarget(sym.module, sym.function, sym.function.is_async, bound, sites=sites)
        if sym.value is not None:
            value = sym.value
            if isinstance(value, cst.Call):
                partial = sym.module.qualify(value.func) == names.FUNCTOOLS_PARTIAL
                if partial:
                    return self.callable_target(value, sym.module, None, sites[0] if sites else None, depth + 1)
                cls_sym = self.project.resolve_expr(value.func, sym.module, None)
                if cls_sym is not None and cls_sym.cls is not None and "__call__" in cls_sym.cls.methods:
                    call_fn = cls_sym.cls.methods["__call__"]
                    # Starlette's is_async_callable looks at ``__call__`` of an instance
                    return TaskTarget(cls_sym.module, call_fn, call_fn.is_async, bound=True, sites=sites)
            elif isinstance(value, (cst.Name, cst.Attribute)):
                target = self.project.resolve_expr(value, sym.module, None)
                return self._symbol_target(target, sites, depth + 1, self._through_class(value, sym.module, None))
        return None


def _is_bound_access(sym: Symbol, through_class: bool = False) -> bool:
    """Whether Python fills the first parameter: ``cls`` of a classmethod, ``self`` on an instance."""
    fn = sym.function
    if fn is None:
        return False
    decorators = {d.decorator.value for d in fn.decorators if isinstance(d.decorator, cst.Name)}
    if "staticmethod" in decorators:
        return False
    return "classmethod" in decorators or not through_class


def _first(args: Tuple[cst.Arg, ...], keyword: str) -> Tuple[Optional[cst.BaseExpression], Tuple[TaskArg, ...]]:
    """Split a hand-off's arguments into the callable and what the callable receives."""
    for i, a in enumerate(args):
        if a.keyword is None and not (isinstance(a.star, str) and a.star):
            return a.value, _call_args(args[:i] + args[i + 1 :])
        if a.keyword is not None and a.keyword.value == keyword:
            return a.value, _call_args(args[:i] + args[i + 1 :])
        break
    return None, _call_args(args)


def _apply_async_parts(call: cst.Call) -> Tuple[Optional[cst.BaseExpression], Optional[cst.BaseExpression]]:
    args = kwargs = None
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if positional:
        args = positional[0].value
    if len(positional) > 1:
        kwargs = positional[1].value
    for a in call.args:
        if a.keyword is not None and a.keyword.value == "args":
            args = a.value
        elif a.keyword is not None and a.keyword.value == "kwargs":
            kwargs = a.value
    return args, kwargs


def _queue_kind(fn: FunctionFacts, module: ModuleFacts) -> Optional[str]:
    """``celery`` for ``@app.task``/``@shared_task``, ``dramatiq`` for ``@dramatiq.actor``."""
    for dec in fn.decorators:
        expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        qual = module.qualify(expr) or ""
        if qual in ("celery.shared_task", "celery.task", "celery.app.shared_task"):
            return "celery"
        if qual in ("dramatiq.actor", "dramatiq.actor.actor"):
            return "dramatiq"
        if isinstance(expr, cst.Attribute) and expr.attr.value == "task":
            base = module.qualify(expr.value) or ""
            if not base.startswith("builtins."):
                return "celery"
        if isinstance(expr, cst.Attribute) and expr.attr.value == "actor" and (module.qualify(expr.value) or "").startswith("dramatiq"):
            return "dramatiq"
    return None


def iter_task_args(site: TaskSite, target: Optional[TaskTarget] = None) -> Iterator[TaskArg]:
    """Every argument the task receives, including those pre-filled by ``functools.partial``."""
    if target is not None:
        yield from target.partial_args
    elif isinstance(site.task_expr, cst.Call) and site.module.qualify(site.task_expr.func, site.function) == names.FUNCTOOLS_PARTIAL:
        yield from _call_args(site.task_expr.args[1:])
    yield from site.args


def awaited_in_request(site: TaskSite) -> bool:
    """A ``create_task`` whose task the same function awaits (directly, or through ``asyncio.wait``
    / ``gather`` of the variable holding it): it does not outlive the request."""
    if site.mechanism is not Mechanism.CREATE_TASK or site.function is None:
        return False
    module, fn = site.module, site.function
    node: cst.CSTNode = site.call
    while isinstance(module.parent(node), (cst.Element, cst.List, cst.Tuple, cst.StarredElement)):
        node = module.parent(node)  # type: ignore[assignment]
    if isinstance(module.parent(node), cst.Await):
        return True
    holding = {n for n, values in fn.assignments.items() if any(v is node for v in values)}
    # ... and the names bound to a tuple or list of those (`tasks = (reader, writer)`)
    grew = bool(holding)
    while grew:
        grew = False
        for n, values in fn.assignments.items():
            if n not in holding and any(_holds_any(v, holding) for v in values):
                holding.add(n)
                grew = True
    if not holding:
        return False
    if fn.awaited_names is None:  # asked by several rules for each of the function's create_task
        fn.awaited_names = _awaited_names(*fn.bodies())
    return not holding.isdisjoint(fn.awaited_names)


def _holds_any(value: cst.BaseExpression, names_: set) -> bool:
    """A tuple, list or set display with one of ``names_`` among its elements."""
    if not isinstance(value, (cst.Tuple, cst.List, cst.Set)):
        return False
    return any(isinstance(el.value, cst.Name) and el.value.value in names_ for el in value.elements)


class _AwaitedNames:
    """Collects every name used inside an ``await`` expression (hooks for :func:`walk.walk`)."""

    def __init__(self) -> None:
        self.depth = 0
        self.names: set = set()

    def visit_Await(self, node: cst.Await) -> None:
        self.depth += 1

    def leave_Await(self, original_node: cst.Await) -> None:
        self.depth -= 1

    def visit_Name(self, node: cst.Name) -> None:
        if self.depth:
            self.names.add(node.value)


def _awaited_names(*nodes: cst.CSTNode) -> frozenset:
    visitor = _AwaitedNames()
    for node in nodes:
        walk.walk(node, visitor)
    return frozenset(visitor.names)
