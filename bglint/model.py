"""The data every part of bglint shares: rules, findings and fixes.

A rule is one frozen record (its words live here and nowhere else) plus the small check functions
registered on it. `docs/rules.md`, `bglint rule CODE`, SARIF descriptors and the flake8
default-ignore list are all generated from these records.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from bglint.context import RuleContext
    from bglint.handoffs import TaskSite, TaskTarget
    from bglint.facts import ModuleFacts

DOCS_URL = "https://github.com/bglint/bglint/blob/main/docs/rules.md"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    ADVICE = "advice"


class Safety(str, Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Edit:
    """Replace ``source[start:end]`` (offsets into the decoded text) with ``content``."""

    start: int
    end: int
    content: str


@dataclass(frozen=True)
class ImportNeed:
    """An import a fix relies on: ``import module`` or ``from module import name``."""

    module: str
    name: Optional[str] = None

    @property
    def statement(self) -> str:
        return f"from {self.module} import {self.name}" if self.name else f"import {self.module}"

    @property
    def bound_name(self) -> str:
        return self.name if self.name else self.module.split(".")[0]

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}" if self.name else self.module


@dataclass(frozen=True)
class Fix:
    safety: Safety
    edits: Tuple[Edit, ...]
    description: str
    imports: Tuple[ImportNeed, ...] = ()

    @property
    def span(self) -> Tuple[int, int]:
        return min(e.start for e in self.edits), max(e.end for e in self.edits)


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    path: str
    line: int  # 1-based
    column: int  # 1-based, in characters, as the CLI prints it
    end_line: int
    end_column: int
    severity: Severity
    fix: Optional[Fix] = None
    # other lines where a suppression comment also applies (first line of the statement)
    suppress_lines: Tuple[int, ...] = ()

    def sort_key(self) -> Tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


SiteCheck = Callable[["TaskSite", "RuleContext"], Iterator[Finding]]
ModuleCheck = Callable[["ModuleFacts", "RuleContext"], Iterator[Finding]]
TaskCheck = Callable[["TaskTarget", "RuleContext"], Iterator[Finding]]


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n" if text.strip() else ""


@dataclass(frozen=True)
class Rule:
    """One rule's metadata. The check functions are registered with the decorators below."""

    code: str
    name: str
    severity: Severity
    summary: str
    message: str
    why: str
    bad: str
    good: str
    fix: Optional[Safety] = None
    fix_note: str = ""
    options: Tuple[str, ...] = ()
    references: Tuple[str, ...] = ()
    default_enabled: bool = True
    site_checks: list = field(default_factory=list, compare=False, repr=False)
    module_checks: list = field(default_factory=list, compare=False, repr=False)
    task_checks: list = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("why", "bad", "good", "fix_note"):
            object.__setattr__(self, name, _dedent(getattr(self, name)))

    # -- registration -------------------------------------------------------------------
    def on_site(self, fn: SiteCheck) -> SiteCheck:
        """Run ``fn(site, ctx)`` for every hand-off in the module."""
        self.site_checks.append(fn)
        return fn

    def on_module(self, fn: ModuleCheck) -> ModuleCheck:
        """Run ``fn(module, ctx)`` once per module."""
        self.module_checks.append(fn)
        return fn

    def on_task(self, fn: TaskCheck) -> TaskCheck:
        """Run ``fn(task, ctx)`` for every function of the module that runs as a background task."""
        self.task_checks.append(fn)
        return fn

    @property
    def family(self) -> str:
        return self.code[:3]

    @property
    def url(self) -> str:
        return f"{DOCS_URL}#{self.code.lower()}-{self.name}"

    def format_message(self, **values: Any) -> str:
        return self.message.format(**values)
