"""Module and function facts: what one parsed file contains, computed in a single pass.

Everything a rule asks about a module (its imports, its functions with their parameters, calls,
awaits and yields, its module-level names) is collected here once, so rules never re-walk the tree
for it. Names are resolved to qualified names from the module's own imports; other modules are
the project index's business (:mod:`bglint.project`).
"""

from __future__ import annotations

import ast
import bisect
import builtins
import re
import weakref
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import libcst as cst
from libcst._position import CodePosition
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import NEWLINE_RE, PositionProvidingCodegenState

from bglint import planning, sources, walk
from bglint.names import canonical
from bglint.planning import PLAN_HERE

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
    # every name used inside an ``await`` of the body, once asked for (see handoffs.awaited_in_request)
    awaited_names: Optional[frozenset] = field(default=None, repr=False, compare=False)
    # nested defs not parsed yet (see :func:`bglint.planning.nested_left_out`): name -> their lines in the file,
    # and (a weak reference to) the module that parses them
    pending: Optional[Dict[str, Tuple[int, int]]] = field(default=None, repr=False, compare=False)
    owner: Any = field(default=None, repr=False, compare=False)
    parsed_alone: bool = field(default=False, repr=False, compare=False)  # one of those, parsed since

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
        return self.param(name) is not None or name in self.assignments or self.has_nested(name)

    def has_nested(self, name: str) -> bool:
        """Whether a def directly inside this one is named ``name`` (parsed or not)."""
        return (self.pending is not None and name in self.pending) or any(f.name == name for f in self.nested)

    def nested_def(self, name: str) -> Optional["FunctionFacts"]:
        """The first def directly inside this one named ``name``, parsing it if it was left out."""
        if self.pending is not None and name in self.pending:
            module = self.owner()
            if module is not None:
                module._parse_late(self.pending[name])
        return next((f for f in self.nested if f.name == name), None)

    def bodies(self) -> List[cst.CSTNode]:
        """What a walk of this function that goes into its nested defs covers (a use of a name,
        an ``await`` in a closure): its body, then each def nested in it, at any depth, that was
        left out of its parse (parsed now: it is not in ``node``)."""
        out: List[cst.CSTNode] = [self.node.body]
        stack: List[FunctionFacts] = [self]
        while stack:
            fn = stack.pop()
            for name in list(fn.pending or ()):
                fn.nested_def(name)
            for nested in fn.nested:
                if nested.parsed_alone:
                    out.append(nested.node)  # parsed whole: its own nested defs are in it
                else:
                    stack.append(nested)
        return out

    def chain(self) -> Iterator["FunctionFacts"]:
        """This function, then each enclosing function outwards."""
        fn: Optional[FunctionFacts] = self
        while fn is not None:
            yield fn
            fn = fn.parent


def _parent(self: FunctionFacts) -> Optional[FunctionFacts]:
    ref = self.__dict__["_parent"]
    return ref() if ref is not None else None


def _set_parent(self: FunctionFacts, value: Optional[FunctionFacts]) -> None:
    self.__dict__["_parent"] = weakref.ref(value) if value is not None else None


# The enclosing function holds its nested ones (``nested``); the way back is a weak reference, so
# that facts hold no reference cycle: a cycle would leave every parsed tree for the cyclic collector
# to find, at the cost of re-scanning all of them (seconds on a big repository).
FunctionFacts.parent = property(_parent, _set_parent)  # type: ignore[assignment]


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
    return _absolute_module(dotted(node.module) if node.module is not None else "", len(node.relative), package)


def _absolute_module(mod: str, dots: int, package: str) -> Optional[str]:
    """``from <dots><mod> import ...`` in ``package``: the module it reads from (None: above the top)."""
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

    def __init__(self, facts: "ModuleFacts", shadowed: bool = False) -> None:
        self.facts = facts
        # one stack for both kinds of scope, so "directly inside a class" is just a look at the top
        self.scopes: List[Union[FunctionFacts, ClassFacts]] = []
        # a top-level def parsed late whose name a later statement rebinds: it must not win the name
        self.shadowed = shadowed

    def _tick(self, node: cst.CSTNode) -> None:
        self.facts._order_counter += 1
        self.facts.order[id(node)] = self.facts._order_counter

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
        if not self.scopes and not (self.shadowed and cls.name in self.facts.classes):
            self.facts.classes[cls.name] = cls
        self.facts._all_classes.append(cls)
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
        elif not (self.shadowed and fn.name in self.facts.functions):
            self.facts.functions[fn.name] = fn
        self.facts._all_functions.append(fn)
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
            if name not in fn.global_names:  # a global assigned is not one of the function's names
                fn.assignments.setdefault(name, []).append(value)
        elif not (self.shadowed and name in self.facts.assignments):
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
            self.facts.any_imports[local] = qualified
        else:
            _import_at_module(self.facts, local, qualified)

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
    """What one module contains. Built by :func:`collect` from a parsed tree, or by :func:`build`,
    which parses the top-level defs and classes that cannot hold a hand-off only when asked for."""

    def __init__(
        self, path: str, name: str, package: str, source: str, tree: cst.Module, parsed_text: Optional[str] = None, line_map: Optional[planning.LineMap] = None
    ) -> None:
        self.path = path
        self.name = name
        self.package = package
        self.source = source
        self.tree = tree
        # the text ``tree`` was parsed from: ``source`` without the lines of the statements not
        # parsed yet (``line_map`` turns its line numbers into the file's; columns are the same),
        # or ``source`` itself
        self.parsed_text = source if parsed_text is None else parsed_text
        self._line_map = line_map
        # top-level statements not parsed yet (line ranges, 1-based, inclusive), by the name they
        # bind last: filled by :func:`build`
        self._unparsed: Dict[str, Tuple[int, int]] = {}
        self._unparsed_classes: Dict[str, Tuple[int, int]] = {}
        self._unparsed_assignments: Dict[str, Tuple[int, int]] = {}
        self._blanked: List[Tuple[int, int]] = []  # every statement left out, in line order
        self._replaced = 0  # classes of _blanked parsed late whose methods took their place there
        self._shadowed: set = set()  # ... of which those whose names a later statement rebinds
        self._parsed_late: set = set()
        # id(statement parsed late) -> (its module, line shift, the node whose code gives its positions)
        self._late: Dict[int, Tuple[cst.Module, int, cst.CSTNode, Optional[planning.LineMap]]] = {}
        # what build() parsed the module with: a class parsed late leaves out the same methods
        self._eager: "Optional[re.Pattern[str]]" = None
        self._aliases: "Optional[re.Pattern[str]]" = None
        # methods left out of classes parsed with the module: their lines -> (class, its pending methods)
        self._methods: Dict[Tuple[int, int], Tuple[ClassFacts, Dict[str, Tuple[int, int]]]] = {}
        # nested defs left out of functions parsed with the module: their lines -> that function
        self._nested: Dict[Tuple[int, int], FunctionFacts] = {}
        # module-level defs left out of the blocks of top-level `if`/`try`/`with` statements
        self._indented: set = set()
        self._late_tops: List[cst.CSTNode] = []
        # the import statements left out (their lines): their facts were filled from `ast`
        self._imports_left_out: set = set()
        self._order_counter = 0
        self.imports: Dict[str, str] = {}
        self.any_imports: Dict[str, str] = {}
        self.imported_modules: set = set()
        self.functions: Dict[str, FunctionFacts] = _LazyDefs(self, self._unparsed)
        self.classes: Dict[str, ClassFacts] = _LazyDefs(self, self._unparsed_classes)
        self._all_functions: List[FunctionFacts] = []
        self._all_classes: List[ClassFacts] = []
        self.function_of_node: Dict[int, FunctionFacts] = {}
        self.assignments: Dict[str, cst.BaseExpression] = _LazyDefs(self, self._unparsed_assignments)
        # calls of the parsed statements: every call that can be a hand-off (see :func:`build`)
        self.calls: List[Tuple[cst.Call, Optional[FunctionFacts]]] = []
        self.order: Dict[int, int] = {}
        self._positions: Optional[Dict[cst.CSTNode, CodeRange]] = None
        # by id of the statement, or ("window", id of its first statement, how many)
        self._statement_positions: Dict[object, Optional[_StatementPositions]] = {}
        self._parents: Optional[Dict[int, cst.CSTNode]] = None
        self._line_starts: Optional[List[int]] = None

    # -- statements parsed on demand -----------------------------------------------------------
    @property
    def all_functions(self) -> List[FunctionFacts]:
        self.parse_all()
        return self._all_functions

    @property
    def all_classes(self) -> List[ClassFacts]:
        self.parse_all()
        return self._all_classes

    def all_calls(self) -> List[Tuple[cst.Call, Optional[FunctionFacts]]]:
        """Every call of the module, parsing what is left (``calls`` holds those that can be hand-offs)."""
        self.parse_all()
        return self.calls

    @property
    def complete(self) -> bool:
        return len(self._parsed_late) == len(self._blanked) + self._replaced

    def parse_all(self) -> None:
        while not self.complete:  # a class parsed late may leave methods out: a second round
            for lines in list(self._blanked):
                self._parse_late(lines)

    def parse_mentioning(self, word: str) -> None:
        """Parse the statements left out whose text has ``word`` in it (as a whole word)."""
        if self.complete:
            return
        # one pass over the source: each match picks the left-out statement holding it, and the
        # search goes on after that statement (or from the next one, for a match outside them)
        starts = self._starts()
        blanked = self._blanked
        firsts = [first for first, _ in blanked]
        pos = 0
        while True:
            at = _find_word(self.source, word, pos)
            if at < 0:
                return
            line = bisect.bisect_right(starts, at)
            i = bisect.bisect_right(firsts, line) - 1
            if i >= 0 and line <= blanked[i][1]:
                self._parse_late(blanked[i])
                if self._blanked is not blanked:
                    # a class parsed without its methods, which took its place: search them too
                    blanked = self._blanked
                    firsts = [first for first, _ in blanked]
                    continue
                last = blanked[i][1]
                if last >= len(starts):
                    return
                pos = starts[last]
            elif i + 1 < len(blanked):
                pos = starts[blanked[i + 1][0] - 1]
            else:
                return

    def _parse_late(self, lines: Tuple[int, int]) -> None:
        """Parse the top-level statement on ``lines`` alone and add its facts (once)."""
        if lines in self._parsed_late:
            return
        self._parsed_late.add(lines)
        first, last = lines
        starts = self._starts()  # a copy of the source split into lines would be as big as it
        text = self.source[starts[first - 1] : starts[last] if last < len(starts) else len(self.source)]
        if not text.endswith("\n"):
            text += "\n"
        method = self._methods.get(lines)
        if method is not None:
            self._parse_def_late(lines, text, *method)
            return
        outer = self._nested.get(lines)
        if outer is not None:
            self._parse_def_late(lines, text, outer, outer.pending or {})
            return
        is_class = lines in self._unparsed_classes.values()
        for pending in (self._unparsed, self._unparsed_classes, self._unparsed_assignments):
            for name in [n for n, r in pending.items() if r == lines]:
                del pending[name]
        if is_class and self._parse_class_late(lines, text):
            return
        if lines in self._indented:  # a def of a block, walked alone below: a module-level def
            found = self._parse_indented_def(lines, text)
            if found is None:
                return
            stmt: cst.CSTNode = found
        else:
            try:
                mini = sources.parse(text, check_nesting=False)
            except sources.SourceError:
                return  # CPython parsed it, libcst cannot: the name stays unknown, as in an unparsable module
            if len(mini.body) != 1:
                return
            stmt = mini.body[0]
            self._adopt(stmt, mini, first - 1, stmt)
        # an import left out has its facts already (collecting them again now could undo a later
        # import of the same name): only its parents are recorded
        visitor = _NOTHING if lines in self._imports_left_out else _Collector(self, shadowed=lines in self._shadowed)
        walk.walk(stmt, visitor, self._parents)

    def top_statements(self) -> List[cst.CSTNode]:
        """The module's top-level statements parsed so far, with the imports left out parsed now
        (a rule that looks at a module's imports themselves, not at what they bind)."""
        for lines in sorted(self._imports_left_out):
            self._parse_late(lines)
        return list(self.tree.body) + self._late_tops

    def _parse_class_late(self, lines: Tuple[int, int], text: str) -> bool:
        """Parse the class on ``lines`` (its ``text``) as :func:`build` parses one with the module:
        its methods that cannot hold a hand-off left out, each parsed when first looked up (a big
        class is mostly methods no rule asks for). False when none can be left out, or the text
        does not hold one class: the caller parses it whole."""
        if self._eager is None or lines not in self._blanked:
            return False
        try:
            found = sources.parse_ast(text).body
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return False
        if len(found) != 1 or not isinstance(found[0], ast.ClassDef):
            return False
        text_lines = text.split("\n")
        left_out = planning.methods_left_out(found[0], text_lines, self._eager, self._aliases)
        if not left_out:
            return False
        shift = lines[0] - 1
        cut, line_map = planning.cut(text_lines, sorted(left_out.values()), shift)
        try:
            mini = sources.parse(cut, check_nesting=False)
        except sources.SourceError:
            return False
        if len(mini.body) != 1 or not isinstance(mini.body[0], cst.ClassDef):
            return False
        stmt = mini.body[0]
        self._adopt(stmt, mini, shift, stmt, line_map)
        walk.walk(stmt, _Collector(self, shadowed=lines in self._shadowed), self._parents)
        cls = next(c for c in reversed(self._all_classes) if c.node is stmt)
        pending = {name: (start + shift, end + shift) for name, (start, end) in left_out.items()}
        table = _LazyDefs(self, pending)
        dict.update(table, cls.methods)
        cls.methods = table
        for method_lines in pending.values():
            self._methods[method_lines] = (cls, pending)
        # the methods take the class's place among the statements left out (a new list: a search
        # going through the old one sees the change)
        at = self._blanked.index(lines)
        self._blanked = self._blanked[:at] + sorted(pending.values()) + self._blanked[at + 1 :]
        self._replaced += 1
        return True

    def _adopt(self, stmt: cst.CSTNode, mini: cst.Module, shift: int, root: cst.CSTNode, line_map: Optional[planning.LineMap] = None) -> None:
        """Make ``stmt``, parsed late in ``mini`` (``shift`` lines above the file's; ``line_map``:
        the lines cut from it), a statement of this module: positions come from ``root``'s code,
        and its parent is the module."""
        self._late[id(stmt)] = (mini, shift, root, line_map)
        self._late_tops.append(stmt)
        if self._parents is not None:
            self._parents[id(stmt)] = self.tree  # the ones below: by the walk that collects its facts

    def _parse_def_late(self, lines: Tuple[int, int], text: str, scope: Union[ClassFacts, FunctionFacts], pending: Dict[str, Tuple[int, int]]) -> None:
        """Parse a def left out of ``scope``, a class (a method) or a function (a nested def),
        and add it to ``scope`` as the walk of the whole scope would have. Its parent is the module
        (a nested def is left out only outside any loop: no rule looks above it)."""
        for name in [n for n, r in pending.items() if r == lines]:
            del pending[name]
        stmt = self._parse_indented_def(lines, text)
        if stmt is None:
            return
        collector = _Collector(self)
        collector.scopes.append(scope)
        walk.walk(stmt, collector, self._parents)
        if isinstance(scope, FunctionFacts):
            self.function_of_node[id(stmt)].parsed_alone = True

    def _parse_indented_def(self, lines: Tuple[int, int], text: str) -> Optional[cst.FunctionDef]:
        """The def on ``lines`` (``text``, indented as it is in the file), parsed under a stand-in
        ``class`` line (so every line and column stays as in the file, one line down) and made a
        statement of this module; None if libcst cannot parse it as one def."""
        try:
            mini = sources.parse("class _:\n" + text, check_nesting=False)
        except sources.SourceError:
            return None
        wrapper = mini.body[0]
        body = getattr(wrapper, "body", None)
        if not isinstance(wrapper, cst.ClassDef) or not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
            return None
        stmt = body.body[0]
        if not isinstance(stmt, cst.FunctionDef):
            return None
        self._adopt(stmt, mini, lines[0] - 2, wrapper)
        return stmt

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
                    # a nested def's name (without parsing one left out: see planning.nested_left_out)
                    return f"{self.name}.{scope.qualname}.<locals>.{name}" if scope.has_nested(name) else None
        if name in self.imports:
            return self.imports[name]
        if name in self.functions or name in self.classes or name in self.assignments:
            return f"{self.name}.{name}" if self.name else name
        if name in self.any_imports:
            return self.any_imports[name]
        if name in _BUILTINS:
            return f"builtins.{name}"
        return None

    def local_function(self, name: str, fn: Optional[FunctionFacts], parse: bool = True) -> Optional[FunctionFacts]:
        """A def visible as ``name`` from inside ``fn``: nested defs first, then module level
        (``parse=False``: only one parsed already)."""
        if fn is not None:
            for scope in fn.chain():
                nested = scope.nested_def(name)
                if nested is not None:
                    return nested
                if scope.binds(name) or name in scope.imports:
                    return None
        if not parse:
            return dict.get(self.functions, name)
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
            found = MetadataWrapper(self.tree, unsafe_skip_copy=True).resolve(PositionProvider)
            line_map = self._line_map
            self._positions = dict(found) if line_map is None else {node: _file_range(line_map, rng) for node, rng in found.items()}
        return self._positions

    def position(self, node: cst.CSTNode) -> CodeRange:
        if self._positions is not None and node in self._positions:
            return self._positions[node]
        found = self._position_in_statement(node)
        if found is not None:
            return found
        return self.positions[node]

    def _position_in_statement(self, node: cst.CSTNode) -> Optional[CodeRange]:
        """The position of ``node`` from the smallest statement holding it whose code is found
        once in the file (its simple statement, alone or with its neighbours, else each compound
        statement around it, else the top-level statement; see :class:`_StatementPositions`), or
        None where that cannot be done exactly."""
        chain = self._ancestors(node)
        if chain is None:
            return None
        top = chain[-1]
        if id(top) not in self._late:
            # smaller units first (their code does not depend on where they are, given their
            # indentation): the innermost simple statement, alone, then with the statements
            # around it (a line a function writes twice); then each compound statement around it
            # below the top statement, inside out (an `elif` only as part of its `if`)
            inner = [i for i, n in enumerate(chain[:-1]) if isinstance(n, cst.SimpleStatementLine)][:1]
            for i in inner:
                found = self._positions_in_unit(chain[i], chain[i + 1 :]) or self._positions_in_window(chain[i], chain[i + 1 :])
                if found is not None:
                    return found.get(node)
            for i, n in enumerate(chain[:-1]):
                if isinstance(n, cst.BaseCompoundStatement) and not (isinstance(n, cst.If) and isinstance(chain[i + 1], cst.If)):
                    found = self._positions_in_unit(n, chain[i + 1 :])
                    if found is not None:
                        return found.get(node)
        key = id(top)
        if key not in self._statement_positions:
            late = self._late.get(key)
            if late is not None:
                self._statement_positions[key] = _StatementPositions.at(late[2], late[0], late[1], late[3])
            else:
                self._statement_positions[key] = _StatementPositions.compute([top], self.tree, self.parsed_text, line_map=self._line_map)
        found = self._statement_positions[key]
        return found.get(node) if found is not None else None

    def _positions_in_unit(self, unit: cst.CSTNode, above: List[cst.CSTNode]) -> Optional["_StatementPositions"]:
        """Positions inside a statement nested in a top-level one (``above``: its ancestors, up to
        that statement), from its own code indented as its blocks indent it (None: that code is
        not found exactly once at a line start)."""
        key = id(unit)
        if key not in self._statement_positions:
            self._statement_positions[key] = _StatementPositions.compute([unit], self.tree, self.parsed_text, self._indents(above), self._line_map)
        return self._statement_positions[key]

    def _positions_in_window(self, stmt: cst.SimpleStatementLine, above: List[cst.CSTNode]) -> Optional["_StatementPositions"]:
        """Positions inside a simple statement whose own code is in the file more than once (a
        line a function repeats), from the code of it and its neighbours in their block: 2, 4,
        8, ... statements around it, up to the whole block, until one is found exactly once at a
        line start (instead of the code of the whole function around it)."""
        block = above[0]
        if not isinstance(block, cst.IndentedBlock):
            return None
        body = block.body
        at = next((k for k, s in enumerate(body) if s is stmt), None)
        if at is None or len(body) < 2:
            return None
        size = 2
        while True:
            size = min(size, len(body))
            first = max(0, min(at - size // 2, len(body) - size))
            key = ("window", id(body[first]), size)
            if key not in self._statement_positions:
                window = body[first : first + size]
                self._statement_positions[key] = _StatementPositions.compute(window, self.tree, self.parsed_text, self._indents(above), self._line_map)
            found = self._statement_positions[key]
            if found is not None or size == len(body):
                return found
            size *= 2

    def _indents(self, above: List[cst.CSTNode]) -> List[str]:
        """What libcst's codegen indents a statement by, given its ancestors: each block, and the
        cases of a `match`."""
        return [
            self.tree.default_indent if block.indent is None else block.indent
            for block in reversed(above)
            if isinstance(block, (cst.IndentedBlock, cst.Match))
        ]

    def _ancestors(self, node: cst.CSTNode) -> Optional[List[cst.CSTNode]]:
        """``node`` and its ancestors up to its top-level statement (None: not in the module)."""
        chain = [node]
        while True:
            parent = self.parent(chain[-1])
            if parent is None:
                return None
            if parent is self.tree:
                return chain
            chain.append(parent)

    def offset(self, line: int, column: int) -> int:
        return self._starts()[line - 1] + column

    def _starts(self) -> List[int]:
        """The offset in ``source`` where each line starts (lines as Python ends them: libcst
        counts a lone ``\r`` too)."""
        if self._line_starts is None:
            self._line_starts = sources.line_starts(self.source)
        return self._line_starts

    def span(self, node: cst.CSTNode) -> Tuple[int, int]:
        rng = self.position(node)
        return self.offset(rng.start.line, rng.start.column), self.offset(rng.end.line, rng.end.column)

    def code_for(self, node: cst.CSTNode) -> str:
        start, end = self.span(node)
        return self.source[start:end]

    @property
    def parents(self) -> Dict[int, cst.CSTNode]:
        """The parent of every significant node (layout nodes, see :mod:`bglint.walk`, have none)."""
        if self._parents is None:  # a module parsed whole (:func:`build` records them as it walks)
            self._parents = {}
            walk.walk(self.tree, _NOTHING, self._parents)
            for stmt in self._late_tops:
                self._parents[id(stmt)] = self.tree
                walk.walk(stmt, _NOTHING, self._parents)
        return self._parents

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        return self.parents.get(id(node))

    def statement_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The innermost statement (simple or compound) holding ``node``."""
        cur: Optional[cst.CSTNode] = node
        while cur is not None and not isinstance(cur, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            cur = self.parent(cur)
        return cur


_NOTHING = object()  # a visitor with no hooks (:func:`walk.walk` then only records parents)


class _LazyDefs(dict):
    """Top-level functions (or classes) by name; a def not parsed yet is parsed when its facts are
    first asked for. Membership is answered without parsing; iterating parses the whole module."""

    def __init__(self, owner: "ModuleFacts", unparsed: Dict[str, Tuple[int, int]]) -> None:
        super().__init__()
        # a weak reference: a strong one would make every module a reference cycle, which only the
        # cyclic collector frees, by re-scanning every parsed tree (seconds on a big repository)
        self._owner = weakref.proxy(owner)
        self._pending = unparsed

    def _need(self, key: object) -> None:
        lines = self._pending.get(key)  # type: ignore[call-overload]
        if lines is not None:
            self._owner._parse_late(lines)

    def __contains__(self, key: object) -> bool:
        return key in self._pending or dict.__contains__(self, key)

    def __getitem__(self, key: str):  # type: ignore[no-untyped-def]
        self._need(key)
        return dict.__getitem__(self, key)

    def get(self, key: str, default=None):  # type: ignore[no-untyped-def,override]
        self._need(key)
        return dict.get(self, key, default)

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._owner.parse_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._owner.parse_all()
        return dict.__len__(self)

    def keys(self):  # type: ignore[no-untyped-def,override]
        self._owner.parse_all()
        return dict.keys(self)

    def values(self):  # type: ignore[no-untyped-def,override]
        self._owner.parse_all()
        return dict.values(self)

    def items(self):  # type: ignore[no-untyped-def,override]
        self._owner.parse_all()
        return dict.items(self)


class _PositionSink:
    """Stands in for libcst's position provider: the codegen state records into ``_computed``."""

    def __init__(self) -> None:
        self._computed: Dict[cst.CSTNode, CodeRange] = {}


class _StatementPositions:
    """Exact positions inside one top-level statement, without generating the whole module.

    libcst's positions come from regenerating the code of the whole module (the cost of a parse
    again). A top-level statement starts a line at column 0, so positions inside it are those of
    its own code shifted by the lines before it: its code (leading blank and comment lines
    included) is searched in the text parsed, and used only when it sits at exactly one line
    start (then mapped to the file's lines, when that text left some out).
    """

    def __init__(self, ranges: Dict[cst.CSTNode, CodeRange], shift: int, line_map: Optional[planning.LineMap] = None) -> None:
        self.ranges = ranges
        self.shift = shift
        self.line_map = line_map

    @classmethod
    def compute(
        cls, stmts: Sequence[cst.CSTNode], tree: cst.Module, source: str, indents: Sequence[str] = (), line_map: Optional[planning.LineMap] = None
    ) -> Optional["_StatementPositions"]:
        """Positions in consecutive statements of one block, found from their code;
        ``indents``: for statements inside blocks, the indentation each block adds;
        ``line_map``: how ``source``'s lines (the text parsed) map to the file's."""
        ranges, tokens = _codegen(stmts, tree, indents)
        if tree.body and stmts[-1] is tree.body[-1] and not tree.footer and not tree.has_trailing_newline:
            tokens = tokens[:-1]  # Module drops the file's last newline token (Module._codegen_impl)
        code = "".join(tokens)
        start = _only_line_start(source, code)
        if start is None:
            return None
        return cls(ranges, _count_newlines(source, start), line_map)

    @classmethod
    def at(cls, stmt: cst.CSTNode, tree: cst.Module, shift: int, line_map: Optional[planning.LineMap] = None) -> "_StatementPositions":
        """Positions in a statement parsed alone from the source's lines after line ``shift``
        (``line_map``: the lines cut from it, counted from the file's first line)."""
        return cls(_codegen([stmt], tree)[0], shift, line_map)

    def get(self, node: cst.CSTNode) -> Optional[CodeRange]:
        rng = self.ranges.get(node)
        if rng is None:
            return None
        if self.line_map is not None:
            return _file_range(self.line_map, rng, self.shift)
        if not self.shift:
            return rng
        return CodeRange(
            CodePosition(rng.start.line + self.shift, rng.start.column), CodePosition(rng.end.line + self.shift, rng.end.column)
        )


def _file_range(line_map: planning.LineMap, rng: CodeRange, shift: int = 0) -> CodeRange:
    """``rng`` (``shift`` lines down) in the file's lines. A range that ends at the start of a
    line (a newline, a blank line) ends right after its last line, not after the lines cut there."""
    first, last = rng.start.line + shift, rng.end.line + shift
    line = line_map.line
    end = CodePosition(line(last - 1) + 1, 0) if rng.end.column == 0 and last > first else CodePosition(line(last), rng.end.column)
    return CodeRange(CodePosition(line(first), rng.start.column), end)


def _codegen(stmts: Sequence[cst.CSTNode], tree: cst.Module, indents: Sequence[str] = ()) -> Tuple[Dict[cst.CSTNode, CodeRange], List[str]]:
    """The positions of the nodes in ``stmts`` (consecutive statements of one block, as the block
    generates them), relative to the first one's first line, and their code's tokens."""
    sink = _PositionSink()
    state = PositionProvidingCodegenState(
        default_indent=tree.default_indent, default_newline=tree.default_newline, provider=sink  # type: ignore[arg-type]
    )
    state.indent_tokens.extend(indents)
    for stmt in stmts:
        stmt._codegen(state)
    return sink._computed, state.tokens


def _find_word(text: str, word: str, pos: int) -> int:
    """Where ``word`` occurs in ``text`` from ``pos`` as a whole word (as ``\\bword\\b`` matches),
    or -1. ``str.find`` is many times faster than a regular expression that starts with ``\\b``."""
    if not word:
        m = re.compile(r"\b\b").search(text, pos)
        return m.start() if m else -1
    first, last = _is_word_char(word[0]), _is_word_char(word[-1])
    while True:
        at = text.find(word, pos)
        if at < 0:
            return -1
        end = at + len(word)
        # \b: a word character on exactly one side (the ends of the text count as non-word)
        if (at > 0 and _is_word_char(text[at - 1])) != first and (end < len(text) and _is_word_char(text[end])) != last:
            return at
        pos = at + 1


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


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


def build(path: str, name: str, package: str, source: str, eager: "re.Pattern[str]", planned: object = PLAN_HERE) -> ModuleFacts:
    """Facts for ``source``, parsing with libcst now only what ``eager`` may need.

    libcst builds a Python object per token, so parsing is most of bglint's time. A module is
    first read with CPython's ``ast`` (a C parser, cheap); every top-level statement that is not a
    def or class (imports, assignments, ``if TYPE_CHECKING:`` blocks ...) and every top-level
    def/class whose text matches ``eager`` (so every place a hand-off can be) is parsed by libcst
    from a text without the other defs' lines (and the blank lines after them): columns stay, and
    a :class:`bglint.planning.LineMap` turns its line numbers into the file's; inside such a class, so are the
    methods that do not match left out (:func:`bglint.planning.methods_left_out`), and so are big defs nested in a
    top-level def that do not (:func:`bglint.planning.nested_left_out`) and defs in the blocks of a top-level
    ``if``/``try``/``with`` that do not (:func:`bglint.planning._block_defs_left_out`). The rest is
    parsed one statement (or method) at a time when its name is first looked up (a task, a
    dependency, a helper), or all at once when a rule iterates the whole module. Files CPython cannot read
    (syntax errors, newer syntax), and files with lone CR line ends, are parsed whole, for libcst's own verdict.
    ``planned``: what :func:`bglint.planning.plan` gives for ``source``, made elsewhere (see bglint.planner).
    """
    plan = planning.plan(source, eager) if planned is PLAN_HERE else planned
    if plan is not None:
        text, pending, blanked, shadowed, methods, nested, indented, line_map, imports, aliases = plan
        try:
            tree = sources.parse(text, check_nesting=False)
        except sources.SourceError:
            plan = None
        else:
            facts = ModuleFacts(path, name, package, source, tree, parsed_text=text, line_map=line_map)
            facts._unparsed.update(pending["def"])
            facts._unparsed_classes.update(pending["class"])
            facts._unparsed_assignments.update(pending["assign"])
            facts._blanked.extend(blanked)
            facts._indented.update(indented)
            facts._shadowed.update(shadowed)
            facts._eager, facts._aliases = eager, aliases
            _prefill_imports(facts, imports)
            facts._imports_left_out.update((i.lineno, i.end_lineno or i.lineno) for i in imports)
            # the parents, which nearly every module parsed for its hand-offs needs, in the same walk
            facts._parents = {}
            walk.walk(tree, _Collector(facts), facts._parents)
            if (not methods or _wire_methods(facts, methods)) and (not nested or _wire_nested(facts, nested)):
                return facts
    return collect(path, name, package, source, sources.parse(source))


def _wire_methods(facts: ModuleFacts, methods: Dict[int, Tuple[str, Dict[str, Tuple[int, int]]]]) -> bool:
    """Give each class parsed with the module whose methods were left out (``methods``: by the
    class's index among the top-level classes parsed now, its name and methods) a method table that
    parses them on demand. False if the tree does not hold those classes where the plan says
    (never seen; the caller then parses the whole module)."""
    tops = [stmt for stmt in facts.tree.body if isinstance(stmt, cst.ClassDef)]
    by_node = {id(c.node): c for c in facts._all_classes}
    for index, (name, _) in methods.items():
        if index >= len(tops) or tops[index].name.value != name or id(tops[index]) not in by_node:
            return False
    for index, (_, pending) in methods.items():
        cls = by_node[id(tops[index])]
        table = _LazyDefs(facts, pending)
        dict.update(table, cls.methods)
        cls.methods = table
        for lines in pending.values():
            facts._methods[lines] = (cls, pending)
    return True


def _wire_nested(facts: ModuleFacts, nested: Dict[str, Dict[str, Tuple[int, int]]]) -> bool:
    """Give each function parsed with the module whose nested defs were left out (``nested``: by
    the function's qualified name, their names and lines) those defs, to parse on demand. False if
    the functions parsed do not hold one function of that name without a def of those names (never
    seen; the caller then parses the whole module)."""
    by_name: Dict[str, List[FunctionFacts]] = {}
    for fn in facts._all_functions:
        by_name.setdefault(fn.qualname, []).append(fn)
    owner = weakref.ref(facts)
    for qualname, pending in nested.items():
        found = by_name.get(qualname, ())
        if len(found) != 1 or any(f.name in pending for f in found[0].nested):
            return False
        fn = found[0]
        fn.pending, fn.owner = dict(pending), owner
        for lines in pending.values():
            facts._nested[lines] = fn
    return True


def _prefill_imports(facts: "ModuleFacts", imports: Sequence[Union[ast.Import, ast.ImportFrom]]) -> None:
    """The facts :class:`_Collector` records for module-level import statements (``visit_Import``,
    ``visit_ImportFrom``), from their ``ast``, in the same order."""
    for stmt in imports:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname is not None:
                    _import_at_module(facts, alias.asname, alias.name)
                else:
                    head = alias.name.split(".")[0]
                    _import_at_module(facts, head, head)
                    facts.imported_modules.add(alias.name)
            continue
        module = _absolute_module(stmt.module or "", stmt.level, facts.package)
        if module is None or any(alias.name == "*" for alias in stmt.names):
            continue
        for alias in stmt.names:
            _import_at_module(facts, alias.asname or alias.name, f"{module}.{alias.name}" if module else alias.name)
        facts.imported_modules.add(module)


def _import_at_module(facts: "ModuleFacts", local: str, qualified: str) -> None:
    """What an import at module level records (the first binding of a name is its import)."""
    facts.imports.setdefault(local, qualified)
    facts.any_imports[local] = qualified


