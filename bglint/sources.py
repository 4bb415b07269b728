"""Reading, decoding, parsing and writing back source files, byte for byte.

A file is decoded the way Python itself would (UTF-8 BOM, PEP 263 coding cookie), parsed as text,
and written back with the same encoding, BOM and line endings; writes are atomic.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import libcst as cst

# libcst's parser recurses; nesting past this is refused up front with a clear message
MAX_NESTING = 100


class SourceError(Exception):
    """A file bglint could not read, decode or parse. ``str(err)`` is the reason shown to users."""


@dataclass(frozen=True)
class Source:
    text: str  # decoded, without the BOM
    encoding: str
    bom: bool

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return (codecs.BOM_UTF8 + data) if self.bom else data


def decode(data: bytes) -> Source:
    if b"\x00" in data:
        raise SourceError("source contains NUL bytes (binary file?)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as err:
        raise SourceError(f"cannot determine encoding: {err.msg if hasattr(err, 'msg') else err}") from None
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8) :]
        encoding = "utf-8"
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as err:
        raise SourceError(f"cannot decode as {codec}: {err.reason} at byte {err.start}") from None
    except LookupError:
        raise SourceError(f"unknown encoding {codec!r} in coding cookie") from None
    return Source(text, codec, bom)


def read(path: Union[str, Path]) -> Source:
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise SourceError("is a directory") from None
    except PermissionError:
        raise SourceError("permission denied") from None
    except FileNotFoundError:
        raise SourceError("no such file") from None
    except OSError as err:
        raise SourceError(f"cannot read: {err.strerror or err}") from None
    return decode(data)


def _nesting_depth(text: str) -> int:
    """Cheap upper bound of bracket nesting, to refuse inputs that would blow libcst's recursion."""
    depth = best = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > best:
                best = depth
        elif ch in ")]}":
            depth = max(depth - 1, 0)
    return best


def parse(text: str) -> cst.Module:
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as err:
        raise SourceError(f"syntax error at line {err.raw_line}, column {err.raw_column + 1}: {err.message}") from None
    except RecursionError:
        raise SourceError("too deeply nested to parse") from None
    except Exception as err:  # libcst's native parser reports some inputs with other errors
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if _nesting_depth(text) > MAX_NESTING:
            message = "too deeply nested to parse"
        raise SourceError(f"cannot parse: {message}") from None


def write_atomic(path: Union[str, Path], data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see either the old or the new file, never half.

    The temporary file lives in the same directory (same filesystem, so ``os.replace`` is atomic)
    and takes the original file's permission bits.
    """
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".bglint-tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
