"""Configuration: ``[tool.bglint]`` in ``pyproject.toml`` (or a ``bglint.toml``), merged with the CLI.

Everything ends up in one frozen :class:`Settings`. Unknown keys and values of the wrong type are
errors that name the key, never silently ignored.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional, Sequence, Tuple


class ConfigError(Exception):
    """Bad configuration or selection; the message is shown to the user as is."""


Version = Tuple[int, ...]


@dataclass(frozen=True)
class Settings:
    select: FrozenSet[str] = frozenset()
    exclude: Tuple[str, ...] = ()
    per_file_ignores: Tuple[Tuple[str, FrozenSet[str]], ...] = ()
    src: Tuple[Path, ...] = ()
    extra_blocking_calls: Tuple[str, ...] = ()
    secret_name_patterns: Tuple[str, ...] = ()
    session_types: Tuple[str, ...] = ()
    heavy_modules: Tuple[str, ...] = ()
    bg204_sleep_threshold: float = 30.0
    max_call_depth: int = 3
    target_fastapi: Optional[Version] = None  # `target-fastapi` as configured
    # without it: what the project's pin is read from (see read_pin_sources); whole texts, not shown
    pin_sources: PinSources = field(default=(), repr=False)
    respect_gitignore: bool = True
    cache_dir: Optional[Path] = None
    root: Optional[Path] = None  # folder of the config file (or the first path)
    config_file: Optional[Path] = None

    def ignored_for(self, path: str) -> FrozenSet[str]:
        """Codes that ``per-file-ignores`` turns off for ``path``."""
        if not self.per_file_ignores:
            return frozenset()
        rel = _relative(Path(path), self.root)
        out: set = set()
        for pattern, codes in self.per_file_ignores:
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(Path(rel).name, pattern):
                out |= codes
        return frozenset(out)

    def fastapi_at_least(self, *version: int) -> bool:
        """Whether the target FastAPI is ``version`` or newer (an unknown target counts as current):
        the configured one, else the project's pin."""
        target = self.target_fastapi if self.target_fastapi is not None else pin_of(self.pin_sources)
        return target is None or target >= version


def _relative(path: Path, root: Optional[Path]) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() if root else path.as_posix()
    except ValueError:
        return path.as_posix()


# -- the keys -------------------------------------------------------------------------------
def _str_list(key: str, value: Any) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{key}` must be a list of strings")
    return tuple(value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"`{key}` must be true or false")
    return value


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"`{key}` must be a non-negative number")
    return float(value)


def _int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"`{key}` must be a non-negative integer")
    return value


def parse_version(text: str) -> Version:
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text)
    if not match:
        raise ConfigError(f"`target-fastapi` must be a version such as \"0.115\", not {text!r}")
    return tuple(int(p) for p in match.group(1).split("."))


KEYS = {
    "select": "list of rule codes or prefixes to enable (replaces the default)",
    "extend-select": "list of codes or prefixes to enable in addition",
    "ignore": "list of codes or prefixes to disable",
    "exclude": "list of globs of paths not to check (replaces the default)",
    "extend-exclude": "list of globs of paths not to check, in addition to the default",
    "per-file-ignores": "table of glob -> list of codes to disable in matching files",
    "src": "list of source roots used to resolve imports (like ruff's `src`)",
    "extra-blocking-calls": "list of qualified names of blocking calls, added to the built-in table (BG201)",
    "secret-name-patterns": "list of regular expressions of secret names, added to the built-in ones (BG401/BG402)",
    "session-types": "list of qualified names of session/connection classes, added to the built-in ones (BG101)",
    "heavy-modules": "list of modules whose import makes a task heavy, added to the built-in ones (BG204)",
    "bg204-sleep-threshold": "seconds of sleep in a task above which BG204 advises a queue (default 30)",
    "max-call-depth": "how deep BG201 follows sync helpers called from a task (default 3)",
    "target-fastapi": "FastAPI version the project runs (default: read from its pin, else current)",
    "respect-gitignore": "skip files ignored by .gitignore (default true)",
    "cache-dir": "folder of the on-disk cache (default .bglint_cache)",
}

DEFAULT_EXCLUDE = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".env",
    "env",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".bglint_cache",
    "__pycache__",
    "__pypackages__",
    "node_modules",
    "build",
    "dist",
    "site-packages",
    "_build",
    "buck-out",
    ".eggs",
)


@dataclass
class RawConfig:
    """Config as read from a file, before it is merged with the CLI."""

    values: Dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None


_TOML_SEEN: Dict[str, Dict[str, Any]] = {}


def _toml(path: Path) -> Dict[str, Any]:
    """The TOML document at ``path``, parsed once per text (the flake8 plugin asks for the same
    ``pyproject.toml`` for every file: reading it again is cheap, parsing it is not); raises what
    reading or parsing raises. Callers must not change what they get."""
    return _toml_text(path.read_text(encoding="utf-8"))


class TomlError(ValueError):
    """A TOML document that does not parse (what tomllib's ``TOMLDecodeError`` said)."""


def _loads(text: str) -> Dict[str, Any]:
    """``tomllib.loads``; the parser is imported here, when a document is parsed (a run that the
    cache answers parses none: a pyproject that cannot name bglint is not parsed, see
    :func:`_may_name_bglint`, and the FastAPI pin is parsed when a rule asks, see :func:`pin_of`)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TomlError(str(err)) from None


def _toml_text(text: str) -> Dict[str, Any]:
    found = _TOML_SEEN.get(text)
    if found is None:
        found = _loads(text)
        if len(_TOML_SEEN) > 64:
            _TOML_SEEN.clear()
        _TOML_SEEN[text] = found
    return found


def find_config(start: Path) -> Optional[Path]:
    """The nearest ``bglint.toml``, or ``pyproject.toml`` with a ``[tool.bglint]`` table, from ``start`` up."""
    folder = start.resolve()
    if folder.is_file():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        own = candidate / "bglint.toml"
        if own.is_file():
            return own
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = pyproject.read_text(encoding="utf-8")
                if not _may_name_bglint(text):
                    continue
                data = _toml_text(text)
            except (OSError, UnicodeDecodeError, TomlError):
                continue  # a broken unrelated pyproject is not ours to reject; an explicit --config is
            if isinstance(data.get("tool"), dict) and "bglint" in data["tool"]:
                return pyproject
    return None


def _may_name_bglint(text: str) -> bool:
    """Whether a TOML document can have a key ``bglint``: a key spells it, or spells a letter of it
    with an escape (the project's pyproject is parsed only then)."""
    return "bglint" in text or "\\u" in text or "\\U" in text or "\\x" in text


def load_file(path: Path) -> RawConfig:
    try:
        data = copy.deepcopy(_toml(path))
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, TomlError) as err:
        raise ConfigError(f"invalid TOML in {path}: {err}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("bglint", {}) if isinstance(data.get("tool"), dict) else {}
    else:
        table = data.get("tool", {}).get("bglint", data) if isinstance(data.get("tool"), dict) else data
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.bglint] in {path} must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key `{unknown[0]}` in {path} (known keys: {', '.join(sorted(KEYS))})")
    return RawConfig(dict(table), path)


# -- rule selection -----------------------------------------------------------------------------
def known_codes() -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """Every rule code, and those on by default, from :mod:`bglint.codes` (not :mod:`bglint.rules`:
    that imports the rules, and libcst with them, which a run answered from the cache never needs)."""
    from bglint import codes

    return tuple(codes.CODES), tuple(code for code, on in codes.CODES.items() if on)


def expand(selectors: Iterable[str], all_codes: Sequence[str], origin: str) -> FrozenSet[str]:
    out: set = set()
    for raw in selectors:
        sel = raw.strip().upper()
        if not sel:
            continue
        if sel == "ALL":
            out.update(all_codes)
            continue
        matched = [c for c in all_codes if c.startswith(sel)]
        if not matched:
            raise ConfigError(f"unknown rule code or prefix `{raw}` in {origin}")
        out.update(matched)
    return frozenset(out)


def resolve_selection(
    all_codes: Sequence[str],
    default_codes: Sequence[str],
    *,
    select: Optional[Sequence[str]],
    extend_select: Sequence[str],
    ignore: Sequence[str],
    origin: str,
) -> FrozenSet[str]:
    chosen = expand(select, all_codes, origin) if select is not None else frozenset(default_codes)
    chosen |= expand(extend_select, all_codes, origin)
    return chosen - expand(ignore, all_codes, origin)


# -- the FastAPI pin -------------------------------------------------------------------------------
_PIN = re.compile(r"""(?ix)^\s*["']?fastapi(?:\[[^\]]*\])?\s*(==|~=|>=|===)\s*v?([0-9][0-9.]*)""")


_PIN_FILES = ("pyproject.toml", "requirements.txt", "requirements.in", "requirements/base.txt", "requirements/prod.txt")
PinSources = Tuple[Tuple[str, str], ...]


def read_pin_sources(root: Path) -> PinSources:
    """The files of ``root`` that :func:`pin_of` reads the FastAPI pin from, by name, with their
    text. The settings keep them, and the pin is parsed when a rule first asks for it: a run that
    the cache answers parses no TOML."""
    found = []
    for name in _PIN_FILES:
        path = root / name
        try:
            if path.is_file():  # not a FIFO, whose reading would wait for a writer
                found.append((name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return tuple(found)


def detect_fastapi_pin(root: Path) -> Optional[Version]:
    """The lowest FastAPI version the project allows, from its pyproject or requirements files."""
    return pin_of(read_pin_sources(root))


@functools.lru_cache(maxsize=8)
def pin_of(found: PinSources) -> Optional[Version]:
    """The lowest FastAPI version that the texts of :func:`read_pin_sources` allow."""
    for name, text in found:
        if name.endswith(".toml"):
            try:
                data = _toml_text(text)
            except TomlError:
                continue
            lines = list(data.get("project", {}).get("dependencies", []) or [])
            poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
            if isinstance(poetry, dict) and "fastapi" in poetry:
                spec = poetry["fastapi"]
                spec = spec.get("version", "") if isinstance(spec, dict) else str(spec)
                lines.append("fastapi" + (spec if spec[:1] in "=~>" else ">=" + spec.lstrip("^")))
        else:
            lines = text.splitlines()
        for line in lines:
            match = _PIN.match(str(line))
            if match:
                return tuple(int(p) for p in match.group(2).strip(".").split(".") if p)
    return None


# -- building the Settings -----------------------------------------------------------------------
def build_settings(
    raw: RawConfig,
    all_codes: Sequence[str],
    default_codes: Sequence[str],
    *,
    cli_select: Optional[Sequence[str]] = None,
    cli_extend_select: Sequence[str] = (),
    cli_ignore: Sequence[str] = (),
    root: Optional[Path] = None,
) -> Settings:
    v = raw.values
    origin = str(raw.path) if raw.path else "configuration"
    file_select = _str_list("select", v["select"]) if "select" in v else None
    file_extend = _str_list("extend-select", v.get("extend-select", []))
    file_ignore = _str_list("ignore", v.get("ignore", []))
    # the file's own selection first, then the command line on top of it (as ruff does)
    chosen = resolve_selection(all_codes, default_codes, select=file_select, extend_select=file_extend, ignore=file_ignore, origin=origin)
    if cli_select is not None:
        chosen = expand(cli_select, all_codes, "--select")
    chosen = (chosen | expand(cli_extend_select, all_codes, "--extend-select")) - expand(cli_ignore, all_codes, "--ignore")

    root = raw.path.parent if raw.path else (root or Path.cwd())
    exclude = _str_list("exclude", v["exclude"]) if "exclude" in v else DEFAULT_EXCLUDE
    exclude = exclude + _str_list("extend-exclude", v.get("extend-exclude", []))

    pfi = v.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError("`per-file-ignores` must be a table of glob -> list of codes")
    per_file = tuple(
        (glob, expand(_str_list(f"per-file-ignores.{glob}", codes), all_codes, f"per-file-ignores.{glob}"))
        for glob, codes in pfi.items()
    )
    for key in ("secret-name-patterns",):
        for pattern in _str_list(key, v.get(key, [])):
            try:
                re.compile(pattern)
            except re.error as err:
                raise ConfigError(f"`{key}`: invalid regular expression {pattern!r}: {err}") from None

    target = v.get("target-fastapi")
    if target is not None and not isinstance(target, str):
        raise ConfigError("`target-fastapi` must be a string such as \"0.115.0\"")
    cache_dir = v.get("cache-dir")
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ConfigError("`cache-dir` must be a string")
    return Settings(
        select=chosen,
        exclude=exclude,
        per_file_ignores=per_file,
        src=tuple((root / s).resolve() for s in _str_list("src", v.get("src", []))),
        extra_blocking_calls=_str_list("extra-blocking-calls", v.get("extra-blocking-calls", [])),
        secret_name_patterns=_str_list("secret-name-patterns", v.get("secret-name-patterns", [])),
        session_types=_str_list("session-types", v.get("session-types", [])),
        heavy_modules=_str_list("heavy-modules", v.get("heavy-modules", [])),
        bg204_sleep_threshold=_number("bg204-sleep-threshold", v.get("bg204-sleep-threshold", 30.0)),
        max_call_depth=_int("max-call-depth", v.get("max-call-depth", 3)),
        target_fastapi=parse_version(target) if target else None,
        pin_sources=() if target else read_pin_sources(root),
        respect_gitignore=_bool("respect-gitignore", v.get("respect-gitignore", True)),
        cache_dir=(root / cache_dir) if cache_dir else None,
        root=root,
        config_file=raw.path,
    )


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


def overrides_from_mapping(values: Mapping[str, Any]) -> RawConfig:
    """A RawConfig from a plain mapping (used by tests' ``# bglint-test:`` headers), validated like a file."""
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key `{unknown[0]}`")
    return RawConfig(dict(values), None)
