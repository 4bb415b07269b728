"""What a function's parameters are: injected ``BackgroundTasks``, ``Request``, ``UploadFile``,
values of (yield) dependencies, sessions, found from annotations, ``Annotated[...]`` metadata,
``Depends(...)`` defaults and module-level aliases, across modules of the project.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Tuple

import libcst as cst

from bglint import names
from bglint.facts import ClassFacts, FunctionFacts, ModuleFacts, Param
from bglint.project import Project, Symbol

_MAX_ALIAS_DEPTH = 6
_CONTAINERS = frozenset(
    {"typing.Optional", "typing.Union", "typing.List", "typing.Sequence", "builtins.list", "typing.Iterable", "typing.Tuple", "builtins.tuple"}
)


@dataclass(frozen=True)
class Dependency:
    """A ``Depends(dep)`` (or ``Security``) attached to a parameter."""

    expr: Optional[cst.BaseExpression]  # None for ``Depends()`` (the annotation is the dependency)
    module: ModuleFacts
    target: Optional[Symbol]
    scope: Optional[str]  # FastAPI >= 0.121 ``Depends(..., scope="function"|"request")``

    @property
    def function(self) -> Optional[FunctionFacts]:
        return self.target.function if self.target is not None else None

    @property
    def yields(self) -> bool:
        """A dependency with ``yield``: its exit code closes what it yielded."""
        fn = self.function
        return fn is not None and fn.is_generator


@dataclass(frozen=True)
class TypeInfo:
    """An annotation, unwrapped: the canonical names of the types it allows, and its dependencies."""

    types: FrozenSet[str] = frozenset()
    classes: Tuple[Tuple[ClassFacts, ModuleFacts], ...] = ()  # project classes among the types
    dependencies: Tuple[Dependency, ...] = ()
    is_collection: bool = False


@dataclass(frozen=True)
class ParamInfo:
    param: Param
    type: TypeInfo
    dependency: Optional[Dependency]
    background_tasks_class: Optional[Tuple[ClassFacts, ModuleFacts]] = None

    @property
    def name(self) -> str:
        return self.param.name

    def is_type(self, *qualnames: str) -> bool:
        return any(q in self.type.types for q in qualnames)

    @property
    def is_background_tasks(self) -> bool:
        return names.BACKGROUND_TASKS in self.type.types or self.background_tasks_class is not None


@dataclass
class Semantics:
    """Per-run memo of parameter analysis (functions are analysed once however many rules ask)."""

    project: Project
    _params: Dict[int, Dict[str, ParamInfo]] = field(default_factory=dict)
    _subclass: Dict[int, bool] = field(default_factory=dict)

    # -- annotations --------------------------------------------------------------------------
    def type_info(self, expr: Optional[cst.BaseExpression], module: ModuleFacts, fn: Optional[FunctionFacts], _depth: int = 0) -> TypeInfo:
        if expr is None or _depth > _MAX_ALIAS_DEPTH:
            return TypeInfo()
        if isinstance(expr, cst.SimpleString):  # a string annotation: parse what it says
            try:
                inner = cst.parse_expression(expr.evaluated_value)  # type: ignore[arg-type]
            except Exception:
                return TypeInfo()
            return self.type_info(inner, module, fn, _depth + 1)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            return _merge(self.type_info(expr.left, module, fn, _depth + 1), self.type_info(expr.right, module, fn, _depth + 1))
        if isinstance(expr, cst.Subscript):
            base = module.qualify(expr.value, fn)
            elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
            if base == names.ANNOTATED and elements:
                info = self.type_info(elements[0], module, fn, _depth + 1)
                deps = tuple(d for meta in elements[1:] for d in self._depends(meta, module, fn, elements[0]))
                return TypeInfo(info.types, info.classes, info.dependencies + deps, info.is_collection)
            if base in _CONTAINERS:
                merged = TypeInfo()
                for el in elements:
                    merged = _merge(merged, self.type_info(el, module, fn, _depth + 1))
                collection = base not in ("typing.Optional", "typing.Union")
                return TypeInfo(merged.types, merged.classes, merged.dependencies, merged.is_collection or collection)
            return TypeInfo(frozenset({base}) if base else frozenset())
        if isinstance(expr, (cst.Name, cst.Attribute)):
            sym = self.project.resolve_expr(expr, module, fn)
            if sym is not None and sym.value is not None:  # a module-level alias: SessionDep = Annotated[...]
                return self.type_info(sym.value, sym.module, None, _depth + 1)
            qual = module.qualify(expr, fn)
            classes: Tuple[Tuple[ClassFacts, ModuleFacts], ...] = ()
            if sym is not None and sym.cls is not None:
                classes = ((sym.cls, sym.module),)
            return TypeInfo(frozenset({qual}) if qual else frozenset(), classes)
        return TypeInfo()

    def _depends(self, expr: cst.BaseExpression, module: ModuleFacts, fn: Optional[FunctionFacts], annotation: Optional[cst.BaseExpression]) -> List[Dependency]:
        if not isinstance(expr, cst.Call) or module.qualify(expr.func, fn) not in names.DEPENDS:
            return []
        dep_expr: Optional[cst.BaseExpression] = None
        scope: Optional[str] = None
        for i, arg in enumerate(expr.args):
            kw = arg.keyword.value if arg.keyword is not None else None
            if (kw is None and i == 0) or kw == "dependency":
                dep_expr = arg.value
            elif kw == "scope" and isinstance(arg.value, cst.SimpleString):
                scope = str(arg.value.evaluated_value)
        target_expr = dep_expr if dep_expr is not None else annotation
        target = self.project.resolve_expr(target_expr, module, fn) if isinstance(target_expr, (cst.Name, cst.Attribute)) else None
        return [Dependency(dep_expr, module, target, scope)]

    # -- parameters ---------------------------------------------------------------------------
    def params(self, fn: FunctionFacts, module: ModuleFacts) -> Dict[str, ParamInfo]:
        return self.project.memo(self._params, id(fn), lambda: self._compute_params(fn, module))

    def _compute_params(self, fn: FunctionFacts, module: ModuleFacts) -> Dict[str, ParamInfo]:
        self.project.depend(module.path)  # whoever asks again depends on its text
        out: Dict[str, ParamInfo] = {}
        for p in fn.params:
            info = self.type_info(p.annotation, module, fn.parent)
            dep = info.dependencies[-1] if info.dependencies else None
            if p.default is not None:
                found = self._depends(p.default, module, fn.parent, p.annotation)
                if found:
                    dep = found[0]
            bt_class = next((c for c in info.classes if self.is_background_tasks_subclass(*c)), None)
            out[p.name] = ParamInfo(p, info, dep, bt_class)
        return out

    def is_background_tasks_subclass(self, cls: ClassFacts, module: ModuleFacts, _depth: int = 0) -> bool:
        # False while it is computed: guards against base-class cycles
        return self.project.memo(self._subclass, id(cls), lambda: self._subclasses(cls, module, _depth), guard=False)

    def _subclasses(self, cls: ClassFacts, module: ModuleFacts, depth: int) -> bool:
        self.project.depend(module.path)
        for base in cls.bases:
            if module.qualify(base) == names.BACKGROUND_TASKS:
                return True
            sym = self.project.resolve_expr(base, module, None)
            if sym is not None and sym.cls is not None and depth < _MAX_ALIAS_DEPTH:
                if self.is_background_tasks_subclass(sym.cls, sym.module, depth + 1):
                    return True
        return False

    def param_for(self, name: str, fn: Optional[FunctionFacts], module: ModuleFacts) -> Optional[ParamInfo]:
        """The parameter ``name`` refers to inside ``fn`` (looking outwards through closures)."""
        if fn is None:
            return None
        for scope in fn.chain():
            if scope.param(name) is not None:
                return self.params(scope, module)[name]
            if name in scope.assignments:
                return None
        return None


def _merge(a: TypeInfo, b: TypeInfo) -> TypeInfo:
    return TypeInfo(a.types | b.types, a.classes + b.classes, a.dependencies + b.dependencies, a.is_collection or b.is_collection)


def is_endpoint(fn: FunctionFacts, module: ModuleFacts) -> bool:
    """Decorated as a route: ``@app.get(...)``, ``@router.post(...)``, ``@app.websocket(...)``..."""
    for dec in fn.decorators:
        call = dec.decorator
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
            if call.func.attr.value in names.ROUTE_METHODS:
                return True
    return False


# a decorator's first character, and a route method after a dot: ``.get``, ``. post``, ``.\<newline>get``
_DECORATOR = re.compile(r"^[ \t\f]*@", re.MULTILINE)
_ROUTE_METHOD = re.compile(r"\.(?:\s|\\\n)*(?:" + "|".join(sorted(names.ROUTE_METHODS)) + r")\b")
_LONGEST_DECORATOR = 10_000  # characters; a longer one (or brackets inside strings) counts as maybe


@functools.lru_cache(maxsize=8)
def may_hold_endpoints(source: str) -> bool:
    """Whether a function of the module ``source`` can be an endpoint by :func:`is_endpoint`,
    from the text alone, without parsing: whether the text of some decorator (up to the end of its
    line, or of its brackets) names a route method after a dot (``@app.get(...)``,
    ``@make_router().post(...)``, ``@routers[0].get(...)``); brackets in strings may make it
    count as "maybe", never as "no". The module's rules ask once per spawned task; the sources
    are few at a time."""
    if "\r" in source:  # lines as Python ends them
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    for match in _DECORATOR.finditer(source):
        end, depth = match.end(), 0
        while end < len(source):
            ch = source[end]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            elif ch == "\n" and depth <= 0 and source[end - 1] != "\\":
                break
            end += 1
            if end - match.end() > _LONGEST_DECORATOR:
                return True
        if _ROUTE_METHOD.search(source, match.end(), end):
            return True
    return False
