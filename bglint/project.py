"""The project index: which file holds which module, and what a qualified name refers to.

Modules are parsed lazily, only when something refers to them, and each file is parsed once per
run. A repository that holds several applications side by side (each with its own package root)
resolves each file's imports against its own root first.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, TypeVar, Union

import libcst as cst

from bglint import sources
from bglint.facts import PLAN_HERE, ClassFacts, FunctionFacts, ModuleFacts, build
from bglint.report import is_package, package_root_at

if TYPE_CHECKING:  # pragma: no cover
    from bglint.planner import Planner

_MAX_REEXPORT_DEPTH = 8

# A dependency on every file of the project (a rule read them all, or a result came out of an
# import cycle, whose answer depends on what was asked first): any change re-analyses it.
ANY_FILE = "*"
_NO_GUARD = object()
T = TypeVar("T")


@dataclass(frozen=True)
class Symbol:
    """What a qualified name resolves to inside the project."""

    module: ModuleFacts
    qualname: str
    function: Optional[FunctionFacts] = None
    cls: Optional[ClassFacts] = None
    value: Optional[cst.BaseExpression] = None  # a module-level ``name = value``
    is_module: bool = False


def module_name(path: Path, memo: Optional[Dict[Path, Optional[Path]]] = None) -> Tuple[str, str, Path]:
    """``(module name, package, root)`` of ``path``: root is the folder above its top package
    (see :func:`bglint.report.package_root_at`; ``memo``: its answers so far)."""
    path = path.resolve()
    root = package_root_at(path.parent, {} if memo is None else memo)
    parts = list(path.parent.relative_to(root).parts) if root != path.parent else []
    if path.name != "__init__.py":
        parts.append(path.stem)
    name = ".".join(parts)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return name, package, root


class Project:
    def __init__(self, extra_roots: Iterable[Path] = (), eager: Optional["re.Pattern[str]"] = None) -> None:
        # top-level defs whose text matches ``eager`` are parsed with the module, the others when
        # first asked for (see :func:`bglint.facts.build`); None: everything at once
        self.eager = eager if eager is not None else re.compile("")
        self._extra_roots: List[Path] = [Path(r).resolve() for r in extra_roots]
        self._facts: Dict[Path, Optional[ModuleFacts]] = {}
        self._errors: Dict[Path, str] = {}
        self._sources: Dict[Path, sources.Source] = {}
        # files the run read but did not keep (they cannot hold a hand-off): read again if needed
        self._not_kept: List[Path] = []
        # module file -> the folders its absolute imports are searched from (see _roots_for)
        self._roots: Dict[Path, Tuple[Path, ...]] = {}
        self._packages: Dict[Path, Optional[Path]] = {}  # package_root_at's answers
        self._find_cache: Dict[Tuple[str, Path], Optional[Path]] = {}
        self._resolve_cache: Dict[Tuple[str, Tuple[Path, ...], bool], Optional[Symbol]] = {}
        # told of each file read from disk (see cache.ReadLog), when the run keeps a cache
        self.read_log: Optional[Callable[[Union[str, Path], os.stat_result, bytes], None]] = None
        # plans of candidate texts made ahead in another process (see bglint.planner)
        self.planner: Optional["Planner"] = None
        # lint in this process and a forked one, a core being idle (see bglint.sharing)
        self.share_lint = False
        # dependency recording (see :meth:`record`): the files read by each open piece of analysis
        self._frames: Optional[List[Set[str]]] = None
        self._real: Dict[Path, Path] = {}  # real()'s answers
        self._memo_deps: Dict[Tuple[int, Hashable], Set[str]] = {}

    # -- dependencies ----------------------------------------------------------------------
    def record(self) -> None:
        """Record from now on which files each piece of analysis reads (:meth:`begin`/:meth:`end`),
        memoised answers included: an answer found by an earlier piece counts for each piece that
        uses it. What a cache needs to re-analyse only the files a change can affect."""
        self._frames = []

    @property
    def recording(self) -> bool:
        return self._frames is not None

    def begin(self) -> None:
        if self._frames is not None:
            self._frames.append(set())

    def end(self) -> Set[str]:
        """The files (resolved paths, or :data:`ANY_FILE`) read since the matching :meth:`begin`;
        they count for the piece around it too. Empty when not recording."""
        if not self._frames:
            return set()
        deps = self._frames.pop()
        if self._frames:
            self._frames[-1] |= deps
        return deps

    def depend(self, name: str) -> None:
        if self._frames:
            self._frames[-1].add(name)

    def memo(self, store: Dict[Any, T], key: Hashable, compute: Callable[[], T], guard: Any = _NO_GUARD) -> T:
        """``store[key]``, computed once; when recording, a later use of the answer depends on
        the files its computation read. ``guard``: the answer while it is being computed (a
        recursive question gets it: an import or base-class cycle)."""
        frames = self._frames
        if key in store:
            if frames:
                deps = self._memo_deps.get((id(store), key))
                # still being computed (a cycle): its files are not all known yet
                frames[-1].update(deps if deps is not None else (ANY_FILE,))
            return store[key]
        if guard is not _NO_GUARD:
            store[key] = guard
        if frames is None:
            value = store[key] = compute()
            return value
        self.begin()
        try:
            value = compute()
        finally:
            deps = self.end()
        store[key] = value
        self._memo_deps[(id(store), key)] = deps  # popped: nothing adds to it any more
        return value

    # -- files ---------------------------------------------------------------------------
    def real(self, path: Path) -> Path:
        """``path.resolve()``, once per path: it takes a system call per folder of the path, and a
        run asks for the same few hundred files thousands of times."""
        found = self._real.get(path)
        if found is None:
            found = self._real[path] = path.resolve()
        return found

    def source(self, path: Path) -> sources.Source:
        path = self.real(path)
        if path not in self._sources:
            self._sources[path] = sources.read(path, self.read_log)
        return self._sources[path]

    def set_source(self, path: Path, text: str, source: Optional[sources.Source] = None) -> None:
        """Replace a file's text (after a fix) and forget everything derived from it."""
        path = self.real(path)
        old = source or self._sources.get(path) or sources.Source(text, "utf-8", False)
        self._sources[path] = sources.Source(text, old.encoding, old.bom)
        self._facts.pop(path, None)
        self._errors.pop(path, None)
        self._resolve_cache.clear()
        self._memo_deps.clear()

    def facts(self, path: Path) -> ModuleFacts:
        """Parse ``path`` (once) and return its facts; raises :class:`sources.SourceError`."""
        path = self.real(path)
        self.depend(str(path))
        if path in self._errors:
            raise sources.SourceError(self._errors[path])
        cached = self._facts.get(path)
        if cached is not None:
            return cached
        name, package, root = module_name(path, self._packages)
        try:
            src = self.source(path)
            if len(src.text) > sources.MAX_FILE_BYTES:  # a text handed in (flake8's), not read here
                raise sources.too_big(len(src.text))
            try:
                planned = self.planner.plan(src.text, path) if self.planner is not None else PLAN_HERE
                facts = build(str(path), name, package, src.text, self.eager, planned)
            finally:
                if len(src.text) >= sources.RELEASE_AFTER:  # CPython's tree of it, read to plan the parse
                    sources.release_freed_memory()
        except sources.SourceError as err:
            self._errors[path] = str(err)
            raise
        self._roots[path] = self._module_roots(path, root)
        self._facts[path] = facts
        return facts

    def try_facts(self, path: Path) -> Optional[ModuleFacts]:
        try:
            return self.facts(path)
        except sources.SourceError:
            return None

    # -- modules -------------------------------------------------------------------------
    def _module_roots(self, path: Path, root: Path) -> Tuple[Path, ...]:
        """Where the absolute imports of the module ``path`` are looked for: the folder above its
        top package, and for a module of a namespace folder (no ``__init__.py``) its own folder
        after it, as when that folder is a script's (``python main.py``, ``uvicorn main:app``)."""
        folder = path.parent
        if folder != root and not is_package(folder):
            return (root, folder)
        return (root,)

    def _near_roots(self, here: Path) -> Tuple[Path, ...]:
        roots = self._roots.get(here)
        if roots is None:
            roots = self._roots[here] = self._module_roots(here, module_name(here, self._packages)[2])
        return roots

    def _roots_for(self, near: Optional[ModuleFacts]) -> Sequence[Path]:
        roots: List[Path] = list(self._near_roots(Path(near.path))) if near is not None else []
        roots.extend(r for r in self._extra_roots if r not in roots)
        return roots

    def find_module(self, name: str, near: Optional[ModuleFacts]) -> Optional[Path]:
        """The file of module ``name``, searched from ``near``'s package root, then the extra roots."""
        if not name:
            return None
        rel = Path(*name.split("."))
        for root in self._roots_for(near):
            key = (name, root)
            if key not in self._find_cache:
                found = None
                # a package wins over a module of the same name, as in CPython's import system
                for candidate in (root / rel / "__init__.py", root / rel.with_suffix(".py")):
                    if candidate.is_file():
                        found = self.real(candidate)
                        break
                self._find_cache[key] = found
            if self._find_cache[key] is not None:
                return self._find_cache[key]
        return None

    def resolve(self, qualname: Optional[str], near: Optional[ModuleFacts], _depth: int = 0, value_only: bool = False) -> Optional[Symbol]:
        """What ``qualname`` (as seen from module ``near``) is in the project, if it is in it.

        ``value_only``: the caller only wants a module-level ``name = value``; a def or class is
        then returned without its facts (so without parsing it, see :func:`bglint.facts.build`).
        """
        if not qualname or _depth > _MAX_REEXPORT_DEPTH or qualname.startswith("builtins."):
            return None
        key = (qualname, self._near_roots(Path(near.path)) if near is not None else (), value_only)
        # None while it is computed: guards against import cycles
        return self.memo(self._resolve_cache, key, lambda: self._resolve(qualname, near, _depth, value_only), guard=None)

    def _resolve(self, qualname: str, near: Optional[ModuleFacts], depth: int, value_only: bool = False) -> Optional[Symbol]:
        if near is not None and near.name and (qualname == near.name or qualname.startswith(near.name + ".")):
            rest = qualname[len(near.name) + 1 :].split(".") if qualname != near.name else []
            return self._lookup(near, rest, near, depth, value_only)
        parts = qualname.split(".")
        for cut in range(len(parts), 0, -1):
            path = self.find_module(".".join(parts[:cut]), near)
            if path is None:
                continue
            module = self.try_facts(path)
            if module is None:
                return None
            return self._lookup(module, parts[cut:], near, depth, value_only)
        return None

    def _lookup(self, module: ModuleFacts, rest: List[str], near: Optional[ModuleFacts], depth: int, value_only: bool = False) -> Optional[Symbol]:
        if not rest:
            return Symbol(module, module.name, is_module=True)
        head, tail = rest[0], rest[1:]
        qual = f"{module.name}.{head}" if module.name else head
        if value_only and (head in module.functions or head in module.classes):
            return Symbol(module, qual) if not tail else None  # a def or a class, not a value
        function = module.functions.get(head) if head in module.functions else None
        if function is not None and not tail:
            return Symbol(module, qual, function=function)
        cls = module.classes.get(head) if head in module.classes else None
        if cls is not None:
            if not tail:
                return Symbol(module, qual, cls=cls)
            if len(tail) == 1 and tail[0] in cls.methods:
                return Symbol(module, f"{qual}.{tail[0]}", function=cls.methods[tail[0]])
            return None
        if head in module.imports:
            target = module.imports[head]
            return self.resolve(".".join([target, *tail]), module, depth + 1, value_only)
        value = module.assignments.get(head) if head in module.assignments else None
        if value is not None:
            if not tail:
                return Symbol(module, qual, value=value)
            if len(tail) == 1 and isinstance(value, cst.Call):
                # ``mailer = Mailer()`` then ``mailer.send``: the method of the instance's class
                cls = self.resolve_expr(value.func, module, None)
                if cls is not None and cls.cls is not None and tail[0] in cls.cls.methods:
                    return Symbol(cls.module, f"{cls.qualname}.{tail[0]}", function=cls.cls.methods[tail[0]])
            return None
        # a submodule not imported in the package's __init__ (``import app.tasks as t``)
        sub = self.find_module(f"{module.name}.{head}", module) if module.name else None
        if sub is not None:
            sub_facts = self.try_facts(sub)
            return self._lookup(sub_facts, tail, near, depth, value_only) if sub_facts is not None else None
        return None

    def resolve_expr(self, expr: cst.BaseExpression, module: ModuleFacts, fn: Optional[FunctionFacts], value_only: bool = False) -> Optional[Symbol]:
        """Resolve a name or attribute chain used in ``module`` (inside ``fn``)."""
        if isinstance(expr, cst.Name):
            local = module.local_function(expr.value, fn, parse=not value_only)
            if local is not None:
                return Symbol(module, f"{module.name}.{local.qualname}", function=local)
        return self.resolve(module.qualify(expr, fn), module, value_only=value_only)

    def follow_value(self, expr: cst.BaseExpression, module: ModuleFacts, fn: Optional[FunctionFacts], depth: int = 0) -> Tuple[cst.BaseExpression, ModuleFacts]:
        """Follow a name bound at module level (here or imported) to the expression it was assigned."""
        while depth < _MAX_REEXPORT_DEPTH and isinstance(expr, (cst.Name, cst.Attribute)):
            sym = self.resolve_expr(expr, module, fn, value_only=True)
            if sym is None or sym.value is None:
                break
            expr, module, fn = sym.value, sym.module, None
            depth += 1
        return expr, module

    @property
    def parsed(self) -> Dict[Path, Optional[ModuleFacts]]:
        return self._facts

    def read_elsewhere(self, paths: Sequence[Path]) -> None:
        """``paths`` were read by the run (and found unable to hold a hand-off) without their text
        being kept here: :attr:`texts` reads them again."""
        self._not_kept.extend(paths)

    def texts(self) -> Iterator[Tuple[Path, str]]:
        """The text of every file read in this run, parsed or only prefiltered, by resolved path;
        those not kept are read again one at a time (a caller that stops early reads no more)."""
        self.depend(ANY_FILE)
        yield from ((path, src.text) for path, src in list(self._sources.items()))
        for path in self._not_kept:
            key = self.real(path)
            if key not in self._sources:
                try:
                    yield key, sources.read(key, self.read_log).text
                except sources.SourceError:
                    continue


def file_key(path: Union[str, Path]) -> Path:
    return Path(path).resolve()
