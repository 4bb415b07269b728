"""What a check function is handed: the module, the project, and helpers to make findings and fixes.

Rules never open files, parse config or print; everything they need comes through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Union

import libcst as cst

from bglint.config import Settings
from bglint.facts import FunctionFacts, ModuleFacts
from bglint.handoffs import HandoffFinder, TaskSite, TaskTarget
from bglint.model import Edit, Finding, Fix, ImportNeed, Rule, Safety
from bglint.project import Project, Symbol
from bglint.semantics import ParamInfo, Semantics

if TYPE_CHECKING:  # pragma: no cover
    from bglint.data import Tables


@dataclass
class RuleContext:
    module: ModuleFacts
    project: Project
    settings: Settings
    semantics: Semantics
    handoffs: HandoffFinder
    tables: "Tables"
    display_path: str
    # functions of this module that run as tasks (from hand-offs anywhere in the project)
    tasks: Sequence[TaskTarget] = ()
    # what rules share while this module is linted (an analysis used by several rules), by key;
    # it dies with the context, so nothing of one module or project outlives its lint
    shared: Dict[str, Any] = field(default_factory=dict)

    # -- facts -----------------------------------------------------------------------------
    @property
    def sites(self) -> List[TaskSite]:
        return self.handoffs.sites(self.module)

    def target(self, site: TaskSite) -> Optional[TaskTarget]:
        return self.handoffs.target(site)

    def params(self, fn: FunctionFacts, module: Optional[ModuleFacts] = None) -> Dict[str, ParamInfo]:
        return self.semantics.params(fn, module or self.module)

    def param_for(self, name: str, fn: Optional[FunctionFacts]) -> Optional[ParamInfo]:
        return self.semantics.param_for(name, fn, self.module)

    def qualify(self, expr: cst.BaseExpression, fn: Optional[FunctionFacts] = None) -> Optional[str]:
        return self.module.qualify(expr, fn)

    def resolve(self, expr: cst.BaseExpression, fn: Optional[FunctionFacts] = None, module: Optional[ModuleFacts] = None) -> Optional[Symbol]:
        return self.project.resolve_expr(expr, module or self.module, fn)

    def code_for(self, node: cst.CSTNode, module: Optional[ModuleFacts] = None) -> str:
        return (module or self.module).code_for(node)

    # -- findings --------------------------------------------------------------------------
    def finding(self, rule: Rule, node: cst.CSTNode, fix: Optional[Fix] = None, **values: Any) -> Finding:
        if fix is not None and rule.fix is None:
            raise AssertionError(f"{rule.code} declares no fix but attached one")
        rng = self.module.position(node)
        stmt = self.module.statement_of(node)
        extra = ()
        if stmt is not None:
            start = self.module.position(stmt).start.line
            if start != rng.start.line:
                extra = (start,)
        return Finding(
            code=rule.code,
            message=rule.format_message(**values),
            path=self.display_path,
            line=rng.start.line,
            column=rng.start.column + 1,
            end_line=rng.end.line,
            end_column=rng.end.column + 1,
            severity=rule.severity,
            fix=fix,
            suppress_lines=extra,
        )

    # -- fixes -----------------------------------------------------------------------------
    def replace(self, node: cst.CSTNode, new: Union[str, cst.CSTNode]) -> Edit:
        """An edit replacing ``node``'s text with ``new`` (text, or a node rendered as code)."""
        start, end = self.module.span(node)
        text = new if isinstance(new, str) else self.module.tree.code_for_node(new)
        return Edit(start, end, text)

    def delete_range(self, start: int, end: int) -> Edit:
        return Edit(start, end, "")

    def fix(self, safety: Safety, edits: Iterable[Edit], description: str, imports: Iterable[ImportNeed] = ()) -> Fix:
        return Fix(safety, tuple(edits), description, tuple(imports))

    def bound_name(self, need: ImportNeed) -> Optional[str]:
        """The name under which ``need`` is already available in this module, if it is."""
        for local, qual in self.module.imports.items():
            if qual == need.qualified or (need.name is None and qual == need.module):
                return local
        return None
