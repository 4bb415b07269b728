"""Fixture cases: expectations written inline as ``# error: BG301:20`` on the line they are about.

- ``tests/fixtures/<CODE>/<case>.py`` is one case; a sub-directory is one small project (every
  ``.py`` file in it is linted together, for cross-module cases).
- ``ok_*.py`` files (and projects named ``ok_*``) carry no annotations: they must stay silent.
- Only the directory's code is selected, unless a first-line header says otherwise:
  ``# bglint-test: {"extend-select": ["BG204"], "bg204-sleep-threshold": 5}``.
- ``tests/fixtures/fixes/<CODE>_<name>.py`` with ``<CODE>_<name>.fixed.py`` beside it is a fix
  case; the header may also say ``"unsafe-fixes": true``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from bglint.config import RawConfig, Settings, build_settings
from bglint.engine import Engine, Report
from bglint.rules import ALL_CODES, DEFAULT_CODES

FIXTURES = Path(__file__).parent / "fixtures"
_ANNOTATION = re.compile(r"#\s*(?P<severity>error|warning|advice):\s*(?P<items>BG\d{3}:\d+(?:\s*,\s*BG\d{3}:\d+)*)\s*$")
_HEADER = re.compile(r"^#\s*bglint-test:\s*(?P<json>\{.*\})\s*$")

Expected = Tuple[str, int, str, int, str]  # (file, line, code, column, severity)


@dataclass(frozen=True)
class FixtureCase:
    id: str
    code: str
    root: Path  # the case's folder (a project) or the file's folder
    files: Tuple[Path, ...]

    @property
    def sources(self) -> Dict[Path, str]:
        return {f: f.read_text(encoding="utf-8") for f in self.files}

    def header(self) -> Dict[str, object]:
        for text in self.sources.values():
            found = header_of(text)
            if found:
                return found
        return {}

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if self.root != path.parent or len(self.files) > 1 else path.name

    @property
    def expected(self) -> List[Expected]:
        out: List[Expected] = []
        for path, text in self.sources.items():
            for lineno, line in enumerate(text.splitlines(), 1):
                m = _ANNOTATION.search(line)
                if m:
                    for item in m.group("items").split(","):
                        code, col = item.strip().split(":")
                        out.append((self.rel(path), lineno, code, int(col), m.group("severity")))
        return sorted(out)

    def with_suppression(self, kind: Optional[str]) -> Dict[Path, str]:
        """The sources with every annotation rewritten to a suppression comment of ``kind``."""
        if kind is None:
            return self.sources
        out = {}
        for path, text in self.sources.items():
            def repl(m: "re.Match[str]") -> str:
                codes = ",".join(sorted({i.strip().split(":")[0] for i in m.group("items").split(",")}))
                return f"# noqa: {codes}" if kind == "noqa" else f"# bglint: ignore[{codes}]"
            out[path] = "\n".join(_ANNOTATION.sub(repl, line) for line in text.split("\n"))
        return out


def settings_for(code: str, header: Dict[str, object], root: Path) -> Settings:
    values = {k: v for k, v in header.items() if k != "unsafe-fixes"}
    values.setdefault("select", [code])
    return build_settings(RawConfig(values, None), ALL_CODES, DEFAULT_CODES, root=root)


def fixture_cases() -> List[FixtureCase]:
    cases = []
    for code_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name != "fixes"):
        for entry in sorted(code_dir.iterdir()):
            if entry.is_file() and entry.suffix == ".py":
                cases.append(FixtureCase(f"{code_dir.name}/{entry.stem}", code_dir.name, code_dir, (entry,)))
            elif entry.is_dir() and not entry.name.startswith((".", "__")):
                files = tuple(sorted(entry.rglob("*.py")))
                cases.append(FixtureCase(f"{code_dir.name}/{entry.name}", code_dir.name, entry, files))
    return cases


def lint_case(case: FixtureCase, sources: Dict[Path, str]) -> List[Expected]:
    settings = settings_for(case.code, case.header(), case.root)
    engine = Engine(settings)
    project = engine.new_project()
    for path, text in sources.items():
        project.set_source(path, text)
    report = engine.check(list(case.files), project=project)
    assert not report.errors, report.errors
    by_display = {}
    for f in report.findings:
        path = next(p for p in case.files if Path(f.path).resolve() == p.resolve())
        by_display.setdefault(f.path, case.rel(path))
    return sorted((by_display[f.path], f.line, f.code, f.column, f.severity.value) for f in report.findings)


@dataclass(frozen=True)
class FixCase:
    id: str
    before: Path
    after: Path

    @property
    def code(self) -> str:
        return self.before.name.split("_", 1)[0]


def fix_cases() -> List[FixCase]:
    folder = FIXTURES / "fixes"
    if not folder.is_dir():
        return []
    out = []
    for before in sorted(folder.glob("*.py")):
        if before.name.endswith(".fixed.py"):
            continue
        out.append(FixCase(before.stem, before, before.with_name(before.stem + ".fixed.py")))
    return out


def header_of(text: str) -> Dict[str, object]:
    m = _HEADER.match(re.split(r"\r\n|\r|\n", text, maxsplit=1)[0])
    return dict(json.loads(m.group("json"))) if m else {}


def run_fix(case: FixCase, text: Optional[str] = None) -> Tuple[str, Report]:
    source = text if text is not None else case.before.read_text(encoding="utf-8")
    header = header_of(source)
    settings = settings_for(case.code, header, case.before.parent)
    engine = Engine(settings)
    project = engine.new_project()
    project.set_source(case.before, source)
    report = engine.check([case.before], fix=True, unsafe=bool(header.get("unsafe-fixes")), write=False, project=project)
    assert not report.errors, report.errors
    fixed = report.fixes[0].fixed if report.fixes else source
    return fixed, report


def annotated(text: str) -> List[Tuple[int, str]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _ANNOTATION.search(line)
        if m:
            out.extend((lineno, i.strip().split(":")[0]) for i in m.group("items").split(","))
    return sorted(out)


def ids(cases: Sequence[object]) -> List[str]:
    return [getattr(c, "id") for c in cases]
