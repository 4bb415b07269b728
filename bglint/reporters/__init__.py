"""Reporters turn findings into output. They read findings and rule metadata only."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from bglint.model import Finding


@dataclass(frozen=True)
class Output:
    """What a reporter is given."""

    findings: Sequence[Finding]
    texts: Mapping[str, str]  # display path -> source text, for excerpts
    errors: Sequence[tuple]  # (path, message)
    color: bool = False


Renderer = Callable[[Output], str]

# format name -> "module:function"; modules are imported only when their format is used
FORMATS: Dict[str, str] = {
    "full": "bglint.reporters.text:render_full",
    "concise": "bglint.reporters.text:render_concise",
    "json": "bglint.reporters.json:render_json",
    "sarif": "bglint.reporters.sarif:render_sarif",
    "github": "bglint.reporters.github:render_github",
}


def renderer(name: str) -> Renderer:
    module, _, func = FORMATS[name].partition(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def names() -> List[str]:
    return list(FORMATS)
