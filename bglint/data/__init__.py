"""Tables users extend: session types, blocking calls, secret names, heavy modules.

They ship as TOML package data (data, not code) and ``[tool.bglint]`` adds to them.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, FrozenSet, Mapping, Optional, Pattern, Tuple

from bglint.config import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_HERE = Path(__file__).parent


@lru_cache(maxsize=None)
def load_table(name: str) -> Mapping[str, object]:
    with open(_HERE / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class BlockingCall:
    """One entry of the blocking-call table: what the call is and the fix to offer for it."""

    qualname: str
    replacement: str  # "asyncio.sleep" (await it in place) or "thread" (hand it to a worker thread)
    note: str = ""


@dataclass(frozen=True)
class Tables:
    session_types: FrozenSet[str]
    blocking: Mapping[str, BlockingCall]
    blocking_prefixes: Tuple[str, ...]  # "requests." style entries: everything under a module
    blocking_methods: Mapping[str, FrozenSet[str]]  # constructor -> methods of the built object that block
    secret_names: Tuple[Pattern[str], ...]
    token_shapes: Tuple[Tuple[str, Pattern[str]], ...]
    heavy_modules: FrozenSet[str]
    # callable -> type of what calling the object it builds returns (``sessionmaker(...)()`` is a Session)
    object_factories: Mapping[str, str] = field(default_factory=dict)
    secret_placeholders: FrozenSet[str] = frozenset()
    secret_min_length: int = 6

    def blocking_call(self, qualname: Optional[str]) -> Optional[BlockingCall]:
        if not qualname:
            return None
        hit = self.blocking.get(qualname)
        if hit is not None:
            return hit
        for prefix in self.blocking_prefixes:
            if qualname.startswith(prefix):
                return BlockingCall(qualname, "thread")
        return None

    def method_blocks(self, constructor: Optional[str], method: str) -> bool:
        """Whether ``method`` of an object built by ``constructor`` blocks ("*" = all, "-name" = except)."""
        names = self.blocking_methods.get(constructor or "")
        if not names:
            return False
        if f"-{method}" in names:
            return False
        return method in names or ("*" in names and not method.startswith("_"))

    def is_secret_name(self, name: str) -> bool:
        """``SMTP_PASSWORD``, ``apiKey``, ``client-secret``: names are compared in snake_case."""
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").lower()
        return any(p.search(snake) for p in self.secret_names)

    def token_shape(self, text: str) -> Optional[str]:
        """The kind of well-known credential ``text`` contains, if any."""
        for kind, pattern in self.token_shapes:
            if pattern.search(text):
                return kind
        return None

    def is_placeholder(self, text: str) -> bool:
        return text.strip().lower() in self.secret_placeholders or len(text.strip()) < self.secret_min_length


@lru_cache(maxsize=32)
def tables_for(settings: Settings) -> Tables:
    sessions = load_table("session_types")
    blocking_data = load_table("blocking")
    secrets = load_table("secrets")
    heavy = load_table("heavy_modules")

    blocking: Dict[str, BlockingCall] = {}
    prefixes = []
    for entry in blocking_data.get("call", []):  # type: ignore[union-attr]
        name = entry["name"]
        if name.endswith("."):
            prefixes.append(name)
        else:
            blocking[name] = BlockingCall(name, entry.get("replacement", "thread"), entry.get("note", ""))
    for name in settings.extra_blocking_calls:
        if name.endswith(".") or name.endswith(".*"):
            prefixes.append(name.rstrip("*"))
        else:
            blocking.setdefault(name, BlockingCall(name, "thread", "from extra-blocking-calls"))
    methods = {k: frozenset(v) for k, v in dict(blocking_data.get("objects", {})).items()}  # type: ignore[arg-type]

    return Tables(
        session_types=frozenset(sessions.get("types", [])) | frozenset(settings.session_types),  # type: ignore[arg-type]
        blocking=blocking,
        blocking_prefixes=tuple(prefixes),
        blocking_methods=methods,
        secret_names=tuple(re.compile(p, re.IGNORECASE) for p in [*secrets.get("names", []), *settings.secret_name_patterns]),  # type: ignore[misc]
        token_shapes=tuple((t["name"], re.compile(t["pattern"])) for t in secrets.get("tokens", [])),  # type: ignore[union-attr]
        secret_placeholders=frozenset(str(p).lower() for p in secrets.get("placeholders", [])),  # type: ignore[union-attr]
        secret_min_length=int(secrets.get("min_literal_length", 6)),  # type: ignore[call-overload]
        heavy_modules=frozenset(heavy.get("modules", [])) | frozenset(settings.heavy_modules),  # type: ignore[arg-type]
        object_factories=dict(blocking_data.get("factories", {})),  # type: ignore[arg-type]
    )
