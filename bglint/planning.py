"""What libcst parses of a module now: a plan made with CPython's ``ast`` (see :func:`plan`).

libcst is not imported here: :mod:`bglint.planner` forks a process that plans the candidate files
before this process has imported libcst (a tenth of a second it spends meanwhile).
"""

from __future__ import annotations

import ast
import bisect
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from bglint import sources

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


PLAN_HERE = object()  # build()'s `planned` when no plan was made elsewhere


class LineMap:
    """Line numbers in a text parsed with whole lines left out -> line numbers in the file."""

    __slots__ = ("starts", "removed")

    def __init__(self) -> None:
        self.starts = [1]  # the first line (in the text parsed) after each cut ...
        self.removed = [0]  # ... and how many lines were left out above it

    def add(self, line: int, removed: int) -> None:
        if self.starts[-1] == line:
            self.removed[-1] = removed
        else:
            self.starts.append(line)
            self.removed.append(removed)

    def line(self, line: int) -> int:
        return line + self.removed[bisect.bisect_right(self.starts, line) - 1]


Plan = Tuple[
    str,
    Dict[str, Dict[str, Tuple[int, int]]],
    List[Tuple[int, int]],
    set,
    Dict[int, Tuple[str, Dict[str, Tuple[int, int]]]],
    Dict[str, Dict[str, Tuple[int, int]]],
    List[Tuple[int, int]],
    LineMap,
    List[Union[ast.Import, ast.ImportFrom]],
    "Optional[re.Pattern[str]]",
]


def plan(source: str, eager: "re.Pattern[str]") -> Optional[Plan]:
    """The text to parse now (``source`` without the statements left out), what each
    left-out statement binds, and which of them a later statement rebinds."""
    if not eager.pattern:
        return None
    within = getattr(eager, "within", None)
    if within is not None:
        eager = within(source)
    try:
        module = sources.parse_ast(source)
    except RecursionError:
        # libcst's parser takes time quadratic in such a chain (20,000 `+`: 4 minutes)
        raise sources.SourceError("too deeply nested to analyse (an expression CPython cannot compile either)") from None
    except (SyntaxError, ValueError, MemoryError, OverflowError):
        return None
    if "\r" in source and source.count("\r") != source.count("\r\n"):
        return None  # a lone \r ends a line for Python, not for str.split("\n")
    lines = source.split("\n")
    last: Dict[Tuple[str, str], Tuple[int, int]] = {}
    shadowed: set = set()
    blanked: List[Tuple[int, int]] = []
    previous_end = 0
    body = module.body
    aliases = _handoff_aliases(body, eager)
    methods: Dict[int, Tuple[str, Dict[str, Tuple[int, int]]]] = {}
    defs_now: List[Union[ast.FunctionDef, ast.AsyncFunctionDef]] = []  # the top-level defs parsed now ...
    names_now: Dict[str, int] = {}  # ... and how many of each name
    indented: List[Tuple[int, int]] = []  # the defs left out of top-level blocks (their lines)
    classes_now = 0  # top-level classes parsed with the module, so far
    # the import statements of the module's first simple statements: their facts come from `ast`
    # (:func:`_prefill_imports`), before the walk of what is parsed, which visits nothing that
    # imports before them (the statements before them cannot hold an import)
    imports: List[Union[ast.Import, ast.ImportFrom]] = []
    at_top = True
    for i, stmt in enumerate(body):
        first, end = _lines_of(stmt)
        shares_line = first == previous_end or (i + 1 < len(body) and body[i + 1].lineno == end)
        previous_end = end
        bound = _binds(stmt)
        # whatever this statement rebinds, a statement left out before it must not win when parsed
        blocks = bound is None and not shares_line and isinstance(stmt, _BLOCKS)  # defs in it may be left out
        within = _binds_within(stmt) if bound is None and (last or blocks) else []
        for key in bound if bound is not None else within:
            if key in last:
                shadowed.add(last.pop(key))
        if at_top and isinstance(stmt, (ast.Import, ast.ImportFrom)) and not shares_line:
            imports.append(stmt)
            blanked.append((first, end))
            continue
        if hasattr(stmt, "body") or isinstance(stmt, (ast.Import, ast.ImportFrom)):
            at_top = False  # can hold an import, or is one parsed now
        if bound is None or shares_line:
            classes_now += isinstance(stmt, ast.ClassDef)
            if blocks:
                # an `if`/`try`/`with` block's defs that cannot hold a hand-off are left out
                for name, lines_ in _block_defs_left_out(stmt, within, lines, eager, aliases):
                    last[("def", name)] = lines_
                    blanked.append(lines_)
                    indented.append(lines_)
            continue  # imports, compound statements, ...: parsed now
        text = "\n".join(lines[first - 1 : end])
        if _needed_now(text, stmt, eager, aliases):
            if isinstance(stmt, ast.ClassDef):
                # parsed now, but its methods that cannot hold a hand-off are left out as well
                left_out = methods_left_out(stmt, lines, eager, aliases)
                if left_out:
                    methods[classes_now] = (stmt.name, left_out)
                    blanked.extend(left_out.values())
                classes_now += 1
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names_now[stmt.name] = names_now.get(stmt.name, 0) + 1
                if len(text) > MIN_NESTED:  # (a smaller one cannot hold a nested def to leave out)
                    defs_now.append(stmt)
            continue
        for key in bound:
            last[key] = (first, end)
        blanked.append((first, end))
    # inside those, big nested defs that cannot hold a hand-off are left out as well
    nested: Dict[str, Dict[str, Tuple[int, int]]] = {}
    for stmt in defs_now:
        if names_now[stmt.name] == 1:  # (one parsed now of that name: see _wire_nested)
            nested_left_out(stmt, stmt.name, lines, eager, aliases, nested)
    for left_out in nested.values():
        blanked.extend(left_out.values())
    if not blanked:
        return None
    blanked.sort()
    text, line_map = cut(lines, blanked)
    pending: Dict[str, Dict[str, Tuple[int, int]]] = {"def": {}, "class": {}, "assign": {}}
    for (kind, name), lines_ in last.items():
        pending[kind][name] = lines_
    return text, pending, blanked, shadowed, methods, nested, indented, line_map, imports, aliases


def cut(lines: List[str], left_out: Sequence[Tuple[int, int]], shift: int = 0) -> Tuple[str, LineMap]:
    """``lines`` joined without the line ranges ``left_out`` (1-based, inclusive, in order) and the
    blank lines after each, up to the next statement: they are removed, not blanked, as libcst
    would build three nodes for each blank line (on a big module, more than for the code parsed).
    The line map takes the text's lines, ``shift`` lines down, back to the file's."""
    kept: List[str] = []
    line_map = LineMap()
    done = 0
    for first, end in left_out:
        kept.extend(lines[done : first - 1])
        done = end
        while done < len(lines) - 1 and not lines[done].strip():
            done += 1  # and the blank lines after it, up to the next statement (or the end)
        line_map.add(len(kept) + 1 + shift, done - len(kept))
    kept.extend(lines[done:])
    return "\n".join(kept), line_map


_GLOBAL = re.compile(r"^[ \t]+global[ \t]", re.M)


def _needed_now(text: str, stmt: ast.stmt, eager: "re.Pattern[str]", aliases: "Optional[re.Pattern[str]]") -> bool:
    """Whether a statement must be parsed with the module: it can hold a hand-off (``eager``, or a
    hand-off under another name), binds a name as it goes (``:=`` outside a def) or imports a
    module name from inside a function (``global requests; import requests``, which
    ``any_imports`` must know without parsing)."""
    if not isinstance(stmt, _DEFS) and ":=" in text:
        return True
    if eager.search(text) is not None and _may_hold_handoff(text, stmt, eager):
        return True
    if aliases is not None and aliases.search(text):
        return True
    return _GLOBAL.search(text) is not None and "import" in text and _imports_a_global(stmt)


# The prefilter's words whose call is a hand-off only if what is called resolves outside the
# function: (the word, a spelling of it no word of the pattern matches, the names called).
# Dramatiq's `.send` and Celery's `.delay`/`.apply_async` resolve their receiver to an actor or
# task (HandoffFinder._decorated_task_site), `create_task`/`ensure_future` (called as a method or
# by a bare name) must qualify to asyncio's (HandoffFinder._site, and BG305).
_RESOLVED_CALLS = (
    (".send", ".s_nd", ("send", "send_with_options")),
    (".delay(", ".d_lay(", ("delay",)),
    ("apply_async", "apply_as_nc", ("apply_async",)),
    ("create_task", "create_t_sk", ("create_task",)),
    ("ensure_future", "ensure_f_ture", ("ensure_future",)),
)
_RESOLVED_METHODS = frozenset(name for _, _, called in _RESOLVED_CALLS for name in called)
_RESOLVED_NAMES = frozenset({"create_task", "ensure_future"})  # also hand-offs called bare


def _may_hold_handoff(text: str, stmt: ast.stmt, eager: "re.Pattern[str]") -> bool:
    """Whether a def or class (else True) whose ``text`` matches ``eager`` can hold a hand-off:
    some match is another word than those of :data:`_RESOLVED_CALLS`, or one of their calls may
    resolve outside the function (:func:`_calls_only_on_locals`). Most ``.send(`` in a web project
    are a websocket's, a generator's, an HTTP client's or a socket's, and many ``create_task`` an
    event loop's or a task group's, reached through a parameter or a local (``websocket.send``,
    ``self.loop.create_task``, ``tg.create_task``)."""
    if not isinstance(stmt, _DEFS):
        return True
    masked = text
    for word, stand_in, _ in _RESOLVED_CALLS:
        masked = masked.replace(word, stand_in)
    if masked == text or eager.search(masked) is not None:
        return True  # another word matches
    first = _lines_of(stmt)[0]
    lines: List[int] = []
    for word, _, _ in _RESOLVED_CALLS:
        at = text.find(word)
        while at >= 0:
            lines.append(first + text.count("\n", 0, at))
            at = text.find(word, at + 1)
    return not _calls_only_on_locals(stmt, sorted(lines), ":=" in text)


def _calls_only_on_locals(node: ast.stmt, call_lines: Sequence[int], walrus: bool) -> bool:
    """Whether every call of :data:`_RESOLVED_CALLS` in the def or class ``node`` is made on
    something no hand-off search can resolve: a name (or an attribute chain from a name:
    ``self.ws.send``, ``loop.create_task``) that a def the call is in binds, as a parameter or as
    :class:`_Collector` records its locals (:func:`_binds_own`), or an expression that is no name
    at all (``Message(...).send``). The search resolves it with ``Project.resolve_expr`` or
    ``ModuleFacts.qualify``, and a name a function binds resolves to nothing there. Where that is
    not certain the answer is False: a call in a class body, a decorator, a default or an
    annotation; a name declared ``global``, or that the def also binds with a nested def or class,
    or imports. Only the nodes on the lines ``call_lines`` (sorted) are looked at; ``walrus``:
    whether the text may hold a ``:=``."""
    names: Dict[int, Tuple[frozenset, frozenset]] = {}  # id(def) -> (its own names, never its own)
    # (node, the defs it is in, innermost last); a class body or a def's header is in none
    stack: List[Tuple[ast.AST, Tuple[ast.AST, ...]]] = [(node, ())]
    while stack:
        here, chain = stack.pop()
        line = getattr(here, "lineno", None)
        if line is not None:
            at = bisect.bisect_left(call_lines, line)
            if at == len(call_lines) or call_lines[at] > (getattr(here, "end_lineno", None) or line):
                continue  # none of the words on its lines
        if isinstance(here, (ast.FunctionDef, ast.AsyncFunctionDef)):
            header = [*here.decorator_list, *here.args.defaults, *(d for d in here.args.kw_defaults if d is not None)]
            header += [a.annotation for a in _all_args(here.args) if a.annotation is not None]
            if here.returns is not None:
                header.append(here.returns)
            stack.extend((h, chain) for h in header)
            stack.extend((stmt, chain + (here,)) for stmt in here.body)
            continue
        if isinstance(here, ast.ClassDef):
            stack.extend((child, ()) for child in ast.iter_child_nodes(here))
            continue
        if isinstance(here, ast.Call):
            func = here.func
            root: Optional[ast.expr] = None
            if isinstance(func, ast.Attribute) and func.attr in _RESOLVED_METHODS:
                root = func.value
                while isinstance(root, ast.Attribute):
                    root = root.value
            elif isinstance(func, ast.Name) and func.id in _RESOLVED_NAMES:
                root = func
            if isinstance(root, ast.Name) and not any(_binds_own(fn, root.id, names, walrus) for fn in chain):
                return False
        stack.extend((child, chain) for child in ast.iter_child_nodes(here))
    return True


def _binds_own(fn: ast.AST, name: str, memo: Dict[int, Tuple[frozenset, frozenset]], walrus: bool) -> bool:
    """Whether the def ``fn`` binds ``name`` as one of its own names, for certain (see
    :func:`_calls_only_on_locals`); ``walrus``: whether its text may hold a ``:=``."""
    found = memo.get(id(fn))
    if found is None:
        assert isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        own = {a.arg for a in _all_args(fn.args)}
        never: set = set()
        for stmt, nested in _binding_statements(fn.body):
            if isinstance(stmt, ast.Global):
                never.update(stmt.names)
            elif isinstance(stmt, _DEFS):
                never.add(stmt.name)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                never.update((a.asname or a.name).split(".")[0] for a in stmt.names)
            elif not nested:
                for node in stmt.items if isinstance(stmt, (ast.With, ast.AsyncWith)) else [stmt]:
                    for target in _assigned(node):
                        own.update(_target_names(target))
        if walrus:  # `:=` binds in the def, also inside a lambda or a comprehension
            pending: List[ast.AST] = list(fn.body)
            while pending:
                n = pending.pop()
                if isinstance(n, ast.NamedExpr):
                    own.update(_target_names(n.target))
                if not isinstance(n, _DEFS):
                    pending.extend(ast.iter_child_nodes(n))
        found = memo[id(fn)] = (frozenset(own), frozenset(never))
    own, never = found
    return name in own and name not in never


def _binding_statements(body: Sequence[ast.stmt], nested: bool = False) -> Iterator[Tuple[ast.stmt, bool]]:
    """Every statement in ``body`` and in the blocks below it (those of nested defs and classes
    too, with ``nested`` True), without looking into expressions."""
    for stmt in body:
        yield stmt, nested
        inner = nested or isinstance(stmt, _DEFS)
        for part in ("body", "orelse", "finalbody"):
            block = getattr(stmt, part, None)
            if isinstance(block, list):
                yield from _binding_statements(block, inner)
        for handler in getattr(stmt, "handlers", ()):
            yield from _binding_statements(handler.body, inner)
        for case in getattr(stmt, "cases", ()):
            yield from _binding_statements(case.body, inner)


def _all_args(args: ast.arguments) -> List[ast.arg]:
    return [*args.posonlyargs, *args.args, *([args.vararg] if args.vararg else []), *args.kwonlyargs, *([args.kwarg] if args.kwarg else [])]


def _imports_a_global(stmt: ast.stmt) -> bool:
    """Whether ``stmt`` (or a def inside it) declares a name ``global`` and imports a name that
    is one of those, as :class:`_Collector` names imports (a global only assigned is the
    function's own business: the module's facts do not change)."""
    declared: set = set()
    imported: set = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Global):
            declared.update(node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(a.asname or a.name for a in node.names)
    return not declared.isdisjoint(imported)


def methods_left_out(cls: ast.ClassDef, lines: List[str], eager: "re.Pattern[str]", aliases: "Optional[re.Pattern[str]]") -> Dict[str, Tuple[int, int]]:
    """The methods of a class parsed with the module that can be left out (by name: their lines).

    A method is left out when nothing in it is needed now (:func:`_needed_now`) and its name is
    bound once in the class body (so the one parsed later is the one a whole parse keeps). A def
    always starts a line of its own, and so does the statement after it. The last statement of the
    body always stays: the class still parses, and ends where it ends in the file."""
    defs = [s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    bound: Dict[str, int] = {}
    for s in cls.body:
        for _, name in _binds_within(s):
            bound[name] = bound.get(name, 0) + 1
    out: Dict[str, Tuple[int, int]] = {}
    for d in defs:
        if d is cls.body[-1]:
            continue
        first, end = _lines_of(d)
        if bound.get(d.name) != 1 or first <= cls.lineno:
            continue
        if _needed_now("\n".join(lines[first - 1 : end]), d, eager, aliases):
            continue
        out[d.name] = (first, end)
    return out


MIN_NESTED = 2_000  # characters: a smaller nested def is parsed with its function


def nested_left_out(
    fn: ast.stmt, qualname: str, lines: List[str], eager: "re.Pattern[str]", aliases: "Optional[re.Pattern[str]]", out: Dict[str, Dict[str, Tuple[int, int]]]
) -> None:
    """Add to ``out`` (by the qualified name of the def they are in: their names and lines) the
    defs nested in the function ``fn`` (``qualname``), and in those of its nested defs that stay,
    that can be left out, to be parsed when first looked up (a route's closure that streams the
    response, thousands of lines with no hand-off in them).

    A nested def is left out when it is :data:`MIN_NESTED` characters or more, nothing in it is
    needed now (:func:`_needed_now`), no other def or class of the function has its name (so the
    one parsed later is the one a whole parse finds), and it is in the function's own blocks (its
    body, and those of its ``if``, ``with`` and ``try`` statements) but in no loop: a rule asks
    whether a closure is defined in the loop that hands it off, and a def parsed late knows no
    statement around it. A block's last statement stays: the function still parses, and what
    follows a statement (a ``yield``'s cleanup code) is still there. A rule that walks a function
    into its nested defs walks :meth:`FunctionFacts.bodies`."""
    count: Dict[str, int] = {}
    for stmt, inner in _binding_statements(fn.body):  # type: ignore[attr-defined]
        if not inner and isinstance(stmt, _DEFS):
            count[stmt.name] = count.get(stmt.name, 0) + 1
    found: Dict[str, Tuple[int, int]] = {}
    for block in _own_blocks(fn.body):  # type: ignore[attr-defined]
        for stmt in block:
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or count.get(stmt.name) != 1:
                continue
            first, end = _lines_of(stmt)
            text = "\n".join(lines[first - 1 : end])
            if len(text) < MIN_NESTED:
                continue
            if _needed_now(text, stmt, eager, aliases):
                nested_left_out(stmt, f"{qualname}.<locals>.{stmt.name}", lines, eager, aliases, out)
            elif stmt is not block[-1]:  # a block's last statement stays (see above)
                found[stmt.name] = (first, end)
    if found:
        out[qualname] = found


def _block_defs_left_out(
    stmt: ast.stmt, binds: List[Tuple[str, str]], lines: List[str], eager: "re.Pattern[str]", aliases: "Optional[re.Pattern[str]]"
) -> List[Tuple[str, Tuple[int, int]]]:
    """The defs in the blocks of the top-level statement ``stmt`` (an ``if``, ``try`` or ``with``,
    and theirs: :func:`_own_blocks`) that can be left out as a top-level def is, by name: nothing
    in it is needed now (:func:`_needed_now`), ``stmt`` binds its name nowhere else (``binds``:
    what :func:`_binds_within` gives for it; so the one parsed later is the one a whole parse
    keeps), and it is not the last statement of its block (the statement still parses). A
    module's code behind ``if AVAILABLE:``, ``try:``."""
    count: Dict[str, int] = {}
    for _, name in binds:
        count[name] = count.get(name, 0) + 1
    out: List[Tuple[str, Tuple[int, int]]] = []
    blocks = _own_blocks([stmt])
    next(blocks)  # [stmt] itself
    for block in blocks:
        for d in block[:-1]:
            if not isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)) or count.get(d.name) != 1:
                continue
            first, end = _lines_of(d)
            if not _needed_now("\n".join(lines[first - 1 : end]), d, eager, aliases):
                out.append((d.name, (first, end)))
    return out


def _lines_of(stmt: ast.stmt) -> Tuple[int, int]:
    """The first line of ``stmt`` (its first decorator's, for a def or class) and its last."""
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
    return first, stmt.end_lineno or stmt.lineno


# the statements whose blocks :func:`_own_blocks` goes into (``try``/``except*`` from Python 3.11)
_BLOCKS = tuple(getattr(ast, name) for name in ("If", "With", "AsyncWith", "Try", "TryStar") if hasattr(ast, name))


def _own_blocks(body: List[ast.stmt]) -> Iterator[List[ast.stmt]]:
    """``body`` and the blocks of its ``if``, ``with`` and ``try`` statements, and theirs (no
    loop's, no def's or class's)."""
    yield body
    for stmt in body:
        if isinstance(stmt, _BLOCKS):
            for part in ("body", "orelse", "finalbody"):
                block = getattr(stmt, part, None)
                if block:
                    yield from _own_blocks(block)
            for handler in getattr(stmt, "handlers", ()):
                yield from _own_blocks(handler.body)


def _handoff_aliases(body: List[ast.stmt], eager: "re.Pattern[str]") -> "Optional[re.Pattern[str]]":
    """Other names the module gives what ``eager`` spells (``from asyncio import create_task as
    spawn``, ``spawn = asyncio.create_task``): a statement using one may hold a hand-off too."""
    names: set = set()
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update(a.asname for a in stmt.names if a.asname and eager.search(a.name))
        elif isinstance(stmt, ast.Assign) and isinstance(stmt.value, (ast.Name, ast.Attribute)) and eager.search(ast.unparse(stmt.value)):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, names))) + r")\b") if names else None


def _binds_within(stmt: ast.stmt) -> List[Tuple[str, str]]:
    """What a statement parsed with the module binds at module level (the defs, classes and
    names inside its ``if``/``try``/``with``/``for`` blocks), as :class:`_Collector` records it."""
    out: List[Tuple[str, str]] = []
    stack: List[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(("def", node.name))
            continue
        if isinstance(node, ast.ClassDef):
            out.append(("class", node.name))
            continue
        if isinstance(node, ast.Lambda):
            continue
        for target in _assigned(node):
            out.extend(("assign", name) for name in _target_names(target))
        stack.extend(ast.iter_child_nodes(node))
    return out


def _assigned(node: ast.AST) -> List[ast.expr]:
    """The targets :class:`_Collector` binds names from in ``node``: those of ``=``, of an
    annotated ``=`` with a value, of ``for``, of one ``with ... as`` item, of ``:=``."""
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [node.target]
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return [node.target]
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [node.optional_vars]
    if isinstance(node, ast.NamedExpr):
        return [node.target]
    return []


def _target_names(target: ast.expr) -> List[str]:
    """The names ``_Collector._bind_target`` binds for ``target``: a name, or the names (starred
    or not) of a tuple or list."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        elements = (el.value if isinstance(el, ast.Starred) else el for el in target.elts)
        return [el.id for el in elements if isinstance(el, ast.Name)]
    return []


def _binds(stmt: ast.stmt) -> Optional[List[Tuple[str, str]]]:
    """What a top-level statement that may be parsed later binds, as :class:`_Collector` records
    it: ``[(kind, name)]``; None for statements always parsed with the module."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [("def", stmt.name)]
    if isinstance(stmt, ast.ClassDef):
        return [("class", stmt.name)]
    if isinstance(stmt, ast.Expr):
        return []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign):
        if stmt.value is None:
            return None
        targets = [stmt.target]
    else:
        return None
    return [("assign", name) for target in targets for name in _target_names(target)]

