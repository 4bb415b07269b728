"""Module and function facts: what one parsed file contains, computed in a single pass.

Everything a rule asks about a module (its imports, its functions with their parameters, calls,
awaits and yields, its module-level names) is collected here once, so rules never re-walk the tree
for it. Names are resolved to qualified names from the module's own imports; other modules are
the project index's business (:mod:`bglint.project`).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import libcst as cst
from libcst._position import CodePosition
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import NEWLINE_RE, PositionProvidingCodegenState

from bglint import walk
from bglint.names import canonical

_BUILTINS = frozenset(dir(builtins))

AnyFunction = Union[cst.FunctionDef, cst.Lambda]


@dataclass
class Param:
    name: str
    kind: str  # positional_only | positional | vararg | keyword_only | kwarg
    annotation: Optional[cst.BaseExpression]
    default: Optional[cst.BaseExpression]
    node: cst.Param


@dataclass(eq=False)
class FunctionFacts:
    node: cst.FunctionDef
    name: str
    qualname: str
    parent: Optional["FunctionFacts"]
    class_name: Optional[str]
    params: List[Param]
    is_async: bool
    is_generator: bool = False
    awaits: bool = False
    calls: List[cst.Call] = field(default_factory=list)
    yields: List[cst.Yield] = field(default_factory=list)
    raises: List[cst.Raise] = field(default_factory=list)
    returns: List[cst.Return] = field(default_factory=list)
    nested: List["FunctionFacts"] = field(default_factory=list)
    # local name -> the expressions assigned to it, in order (simple targets, with-as, for targets)
    assignments: Dict[str, List[cst.BaseExpression]] = field(default_factory=dict)
    imports: Dict[str, str] = field(default_factory=dict)
    global_names: set = field(default_factory=set)

    @property
    def decorators(self) -> Sequence[cst.Decorator]:
        return self.node.decorators

    def param(self, name: str) -> Optional[Param]:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def binds(self, name: str) -> bool:
        """Whether ``name`` is a parameter or local of this function (so not a global)."""
        return self.param(name) is not None or name in self.assignments or any(
            f.name == name for f in self.nested
        )

    def chain(self) -> Iterator["FunctionFacts"]:
        """This function, then each enclosing function outwards."""
        fn: Optional[FunctionFacts] = self
        while fn is not None:
            yield fn
            fn = fn.parent


@dataclass(eq=False)
class ClassFacts:
    node: cst.ClassDef
    name: str
    qualname: str
    bases: List[cst.BaseExpression]
    methods: Dict[str, FunctionFacts] = field(default_factory=dict)
    # class-level `name = value` (for pydantic settings defaults, aliases)
    attributes: Dict[str, cst.BaseExpression] = field(default_factory=dict)


def _params(node: cst.Parameters) -> List[Param]:
    out: List[Param] = []
    for p in node.posonly_params:
        out.append(Param(p.name.value, "positional_only", _ann(p), p.default, p))
    for p in node.params:
        out.append(Param(p.name.value, "positional", _ann(p), p.default, p))
    if isinstance(node.star_arg, cst.Param):
        out.append(Param(node.star_arg.name.value, "vararg", _ann(node.star_arg), None, node.star_arg))
    for p in node.kwonly_params:
        out.append(Param(p.name.value, "keyword_only", _ann(p), p.default, p))
    if node.star_kwarg is not None:
        out.append(Param(node.star_kwarg.name.value, "kwarg", _ann(node.star_kwarg), None, node.star_kwarg))
    return out


def _ann(p: cst.Param) -> Optional[cst.BaseExpression]:
    return p.annotation.annotation if p.annotation is not None else None


def dotted(expr: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        base = dotted(expr.value)
        return f"{base}.{expr.attr.value}" if base else None
    return None


def _import_from_module(node: cst.ImportFrom, package: str) -> Optional[str]:
    """The absolute module an ``ImportFrom`` reads from (relative imports resolved against ``package``)."""
    mod = dotted(node.module) if node.module is not None else ""
    dots = len(node.relative)
    if not dots:
        return mod
    parts = package.split(".") if package else []
    if dots - 1 > len(parts):
        return None
    base = parts[: len(parts) - (dots - 1)]
    if mod:
        base.append(mod)
    return ".".join(base) or None


class _Collector:
    """Visitor hooks for :func:`bglint.walk.walk`, filling one :class:`ModuleFacts`."""

    def __init__(self, facts: "ModuleFacts") -> None:
        self.facts = facts
        # one stack for both kinds of scope, so "directly inside a class" is just a look at the top
        self.scopes: List[Union[FunctionFacts, ClassFacts]] = []
        self.order = 0

    def _tick(self, node: cst.CSTNode) -> None:
        self.order += 1
        self.facts.order[id(node)] = self.order

    @property
    def fn(self) -> Optional[FunctionFacts]:
        for scope in reversed(self.scopes):
            if isinstance(scope, FunctionFacts):
                return scope
        return None

    @property
    def cls(self) -> Optional[ClassFacts]:
        """The class whose body we are directly in (not inside one of its methods)."""
        return self.scopes[-1] if self.scopes and isinstance(self.scopes[-1], ClassFacts) else None

    def _qualname(self, name: str) -> str:
        if not self.scopes:
            return name
        top = self.scopes[-1]
        sep = "." if isinstance(top, ClassFacts) else ".<locals>."
        return top.qualname + sep + name

    # -- scopes -------------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        cls = ClassFacts(node, node.name.value, self._qualname(node.name.value), [a.value for a in node.bases])
        if not self.scopes:
            self.facts.classes[cls.name] = cls
        self.facts.all_classes.append(cls)
        self.scopes.append(cls)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._tick(node)
        parent, cls = self.fn, self.cls
        fn = FunctionFacts(
            node=node,
            name=node.name.value,
            qualname=self._qualname(node.name.value),
            parent=parent,
            class_name=cls.name if cls is not None else None,
            params=_params(node.params),
            is_async=node.asynchronous is not None,
        )
        if cls is not None:
            cls.methods[fn.name] = fn
        elif parent is not None:
            parent.nested.append(fn)
        else:
            self.facts.functions[fn.name] = fn
        self.facts.all_functions.append(fn)
        self.facts.function_of_node[id(node)] = fn
        self.scopes.append(fn)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    # -- names --------------------------------------------------------------------------
    def _bind(self, name: str, value: cst.BaseExpression) -> None:
        fn = self.fn
        if self.cls is not None:
            self.cls.attributes[name] = value
        elif fn is not None:
            if name in fn.global_names:
                self.facts.mutated_globals.setdefault(name, []).append(value)
                return
            fn.assignments.setdefault(name, []).append(value)
        else:
            self.facts.assignments[name] = value

    def visit_Global(self, node: cst.Global) -> None:
        if self.fn is not None:
            self.fn.global_names.update(n.name.value for n in node.names)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, node.value)
        elif isinstance(node.target, cst.Name) and self.cls is not None:
            self.cls.attributes.setdefault(node.target.value, node.annotation.annotation)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name) and self.fn is not None and node.target.value in self.fn.global_names:
            self.facts.mutated_globals.setdefault(node.target.value, []).append(node.value)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, node.value)

    def _bind_target(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                if isinstance(el.value, cst.Name):
                    self._bind(el.value.value, value)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, node.item)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target, node.iter)
        if node.asynchronous is not None and self.fn is not None:
            self.fn.awaits = True

    def visit_With(self, node: cst.With) -> None:
        if node.asynchronous is not None and self.fn is not None:
            self.fn.awaits = True

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted(alias.name)
            if not full:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._import(alias.asname.name.value, full)
            else:
                self._import(full.split(".")[0], full.split(".")[0])
                self.facts.imported_modules.add(full)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = _import_from_module(node, self.facts.package)
        if module is None or isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted(alias.name)
            if not name:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self._import(local, f"{module}.{name}" if module else name)
        self.facts.imported_modules.add(module)

    def _import(self, local: str, qualified: str) -> None:
        if self.fn is not None:
            self.fn.imports[local] = qualified
        else:
            self.facts.imports.setdefault(local, qualified)
        self.facts.any_imports[local] = qualified

    # -- events -------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        self._tick(node)
        self.facts.calls.append((node, self.fn))
        if self.fn is not None:
            self.fn.calls.append(node)

    def visit_Await(self, node: cst.Await) -> None:
        if self.fn is not None:
            self.fn.awaits = True

    def visit_Yield(self, node: cst.Yield) -> None:
        self._tick(node)
        if self.fn is not None:
            self.fn.is_generator = True
            self.fn.yields.append(node)

    def visit_Raise(self, node: cst.Raise) -> None:
        self._tick(node)
        if self.fn is not None:
            self.fn.raises.append(node)

    def visit_Return(self, node: cst.Return) -> None:
        self._tick(node)
        if self.fn is not None:
            self.fn.returns.append(node)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._tick(node)


class ModuleFacts:
    """What one module contains. Built by :func:`collect` from a parsed tree."""

    def __init__(self, path: str, name: str, package: str, source: str, tree: cst.Module) -> None:
        self.path = path
        self.name = name
        self.package = package
        self.source = source
        self.tree = tree
        self.imports: Dict[str, str] = {}
        self.any_imports: Dict[str, str] = {}
        self.imported_modules: set = set()
        self.functions: Dict[str, FunctionFacts] = {}
        self.classes: Dict[str, ClassFacts] = {}
        self.all_functions: List[FunctionFacts] = []
        self.all_classes: List[ClassFacts] = []
        self.function_of_node: Dict[int, FunctionFacts] = {}
        self.assignments: Dict[str, cst.BaseExpression] = {}
        self.mutated_globals: Dict[str, List[cst.BaseExpression]] = {}
        self.calls: List[Tuple[cst.Call, Optional[FunctionFacts]]] = []
        self.order: Dict[int, int] = {}
        self._positions: Optional[Dict[cst.CSTNode, CodeRange]] = None
        self._statement_positions: Dict[int, Optional[_StatementPositions]] = {}
        self._parents: Optional[Dict[int, cst.CSTNode]] = None
        self._line_starts: Optional[List[int]] = None

    # -- name resolution ------------------------------------------------------------------
    def qualify(self, expr: cst.BaseExpression, fn: Optional[FunctionFacts] = None) -> Optional[str]:
        """The canonical qualified name ``expr`` refers to, from this module's point of view.

        Returns None for locals (parameters, local variables) and for anything that is not a
        plain name or attribute chain.
        """
        if isinstance(expr, cst.Name):
            return canonical(self._qualify_name(expr.value, fn))
        if isinstance(expr, cst.Attribute):
            base = self.qualify(expr.value, fn)
            return canonical(f"{base}.{expr.attr.value}") if base else None
        return None

    def _qualify_name(self, name: str, fn: Optional[FunctionFacts]) -> Optional[str]:
        if fn is not None:
            for scope in fn.chain():
                if name in scope.imports:
                    return scope.imports[name]
                if scope.binds(name):
                    nested = next((f for f in scope.nested if f.name == name), None)
                    return f"{self.name}.{nested.qualname}" if nested else None
        if name in self.imports:
            return self.imports[name]
        if name in self.functions or name in self.classes or name in self.assignments:
            return f"{self.name}.{name}" if self.name else name
        if name in self.any_imports:
            return self.any_imports[name]
        if name in _BUILTINS:
            return f"builtins.{name}"
        return None

    def local_function(self, name: str, fn: Optional[FunctionFacts]) -> Optional[FunctionFacts]:
        """A def visible as ``name`` from inside ``fn``: nested defs first, then module level."""
        if fn is not None:
            for scope in fn.chain():
                for nested in scope.nested:
                    if nested.name == name:
                        return nested
                if scope.binds(name) or name in scope.imports:
                    return None
        return self.functions.get(name)

    def function_at(self, node: cst.CSTNode) -> Optional[FunctionFacts]:
        return self.function_of_node.get(id(node))

    def is_after(self, a: cst.CSTNode, b: cst.CSTNode) -> bool:
        """Whether node ``a`` comes after node ``b`` in source order (for calls, yields, raises, returns)."""
        return self.order.get(id(a), 0) > self.order.get(id(b), 0)

    # -- positions (computed lazily: only modules with findings pay for them) --------------
    @property
    def positions(self) -> Dict[cst.CSTNode, CodeRange]:
        if self._positions is None:
            wrapper = MetadataWrapper(self.tree, unsafe_skip_copy=True)
            self._positions = dict(wrapper.resolve(PositionProvider))
        return self._positions

    def position(self, node: cst.CSTNode) -> CodeRange:
        if self._positions is None:
            found = self._position_in_statement(node)
            if found is not None:
                return found
        return self.positions[node]

    def _position_in_statement(self, node: cst.CSTNode) -> Optional[CodeRange]:
        """The position of ``node`` from the top-level statement holding it alone (see
        :class:`_StatementPositions`), or None where that cannot be done exactly."""
        top = self._top_statement(node)
        if top is None:
            return None
        key = id(top)
        if key not in self._statement_positions:
            self._statement_positions[key] = _StatementPositions.compute(top, self.tree, self.source)
        found = self._statement_positions[key]
        return found.get(node) if found is not None else None

    def _top_statement(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        cur = node
        while True:
            parent = self.parent(cur)
            if parent is None:
                return None
            if parent is self.tree:
                return cur
            cur = parent

    def offset(self, line: int, column: int) -> int:
        if self._line_starts is None:
            starts = [0]
            for i, ch in enumerate(self.source):
                if ch == "\n":
                    starts.append(i + 1)
            self._line_starts = starts
        return self._line_starts[line - 1] + column

    def span(self, node: cst.CSTNode) -> Tuple[int, int]:
        rng = self.position(node)
        return self.offset(rng.start.line, rng.start.column), self.offset(rng.end.line, rng.end.column)

    def code_for(self, node: cst.CSTNode) -> str:
        start, end = self.span(node)
        return self.source[start:end]

    @property
    def parents(self) -> Dict[int, cst.CSTNode]:
        """The parent of every significant node (layout nodes, see :mod:`bglint.walk`, have none)."""
        if self._parents is None:
            parents: Dict[int, cst.CSTNode] = {}
            stack: List[cst.CSTNode] = [self.tree]
            while stack:
                node = stack.pop()
                for child in walk.children(node):
                    parents[id(child)] = node
                    stack.append(child)
            self._parents = parents
        return self._parents

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        return self.parents.get(id(node))

    def statement_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The innermost statement (simple or compound) holding ``node``."""
        cur: Optional[cst.CSTNode] = node
        while cur is not None and not isinstance(cur, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            cur = self.parent(cur)
        return cur


class _PositionSink:
    """Stands in for libcst's position provider: the codegen state records into ``_computed``."""

    def __init__(self) -> None:
        self._computed: Dict[cst.CSTNode, CodeRange] = {}


class _StatementPositions:
    """Exact positions inside one top-level statement, without generating the whole module.

    libcst's positions come from regenerating the code of the whole module (the cost of a parse
    again). A top-level statement starts a line at column 0, so positions inside it are those of
    its own code shifted by the lines before it: its code (leading blank and comment lines
    included) is searched in the source, and used only when it sits at exactly one line start.
    """

    def __init__(self, ranges: Dict[cst.CSTNode, CodeRange], shift: int) -> None:
        self.ranges = ranges
        self.shift = shift

    @classmethod
    def compute(cls, stmt: cst.CSTNode, tree: cst.Module, source: str) -> Optional["_StatementPositions"]:
        sink = _PositionSink()
        state = PositionProvidingCodegenState(
            default_indent=tree.default_indent, default_newline=tree.default_newline, provider=sink  # type: ignore[arg-type]
        )
        stmt._codegen(state)
        tokens = state.tokens
        if tree.body and stmt is tree.body[-1] and not tree.footer and not tree.has_trailing_newline:
            tokens = tokens[:-1]  # Module drops the file's last newline token (Module._codegen_impl)
        code = "".join(tokens)
        start = _only_line_start(source, code)
        if start is None:
            return None
        return cls(sink._computed, _count_newlines(source, start))

    def get(self, node: cst.CSTNode) -> Optional[CodeRange]:
        rng = self.ranges.get(node)
        if rng is None:
            return None
        if not self.shift:
            return rng
        return CodeRange(
            CodePosition(rng.start.line + self.shift, rng.start.column), CodePosition(rng.end.line + self.shift, rng.end.column)
        )


def _only_line_start(source: str, code: str) -> Optional[int]:
    """The offset where ``code`` occurs in ``source`` at the start of a line, if it does exactly once."""
    if not code:
        return None
    found: Optional[int] = None
    at = source.find(code)
    while at != -1:
        if at == 0 or source[at - 1] == "\n" or (source[at - 1] == "\r" and source[at] != "\n"):
            if found is not None:
                return None
            found = at
        at = source.find(code, at + 1)
    return found


def _count_newlines(source: str, end: int) -> int:
    """Line breaks before ``end``, counted as libcst counts them (``\\r\\n``, ``\\r`` or ``\\n``)."""
    if "\r" not in source:
        return source.count("\n", 0, end)
    return len(NEWLINE_RE.findall(source, 0, end))


def collect(path: str, name: str, package: str, source: str, tree: cst.Module) -> ModuleFacts:
    facts = ModuleFacts(path, name, package, source, tree)
    walk.walk(tree, _Collector(facts))
    return facts
