"""Load a rule's example source as a real module, so runtime tests run exactly the code bglint lints."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import types
import uuid
from pathlib import Path


def load_example(source: str, tmp_path: Path) -> types.ModuleType:
    """Write ``source`` to a fresh module under ``tmp_path`` and import it.

    Every call gets a unique module name, so two examples never share state.
    """
    name = f"bglint_example_{uuid.uuid4().hex}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
