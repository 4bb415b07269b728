"""Reading, decoding, parsing and writing back source files, byte for byte.

A file is decoded the way Python itself would (UTF-8 BOM, PEP 263 coding cookie), parsed as text,
and written back with the same encoding, BOM and line endings; writes are atomic.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import io
import os
import re
import stat
import sys
import threading
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, TypeVar, Union

if TYPE_CHECKING:  # libcst is imported when something is parsed, not to read or write a file
    import ast

    import libcst as cst
    from libcst import CSTNode

# libcst's parser recurses; nesting past this is refused up front with a clear message
MAX_NESTING = 200
RELEASE_AFTER = 100_000  # characters: parsing a text this big is worth handing memory back after
# A bigger file is not analysed (a per-file error): libcst needs about 0.45 GB and 4 s per MB of a
# function (a 9.4 MB one took 38 s and 4.3 GB), and nothing but generated code is that big (the
# biggest file of the benchmark corpus has 1 MB; of CPython's library with moto, 4 MB of data)
MAX_FILE_BYTES = 5_000_000
# Python's line ends, which every line number of a finding counts (``str.splitlines`` also breaks
# at form feeds, \x1c-\x1e, \x85 and \u2028/\u2029, which would shift the lines after them)
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
_DEEP_STACK_BYTES = 512 * 1024 * 1024  # virtual memory; only the pages used are committed
_DEEP_RECURSION_LIMIT = 60_000
_DEFAULT_RECURSION_LIMIT = 1000  # Python's own, see parse_ast
T = TypeVar("T")


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


def line_starts(text: str) -> List[int]:
    """The offset in ``text`` where each of its lines starts (lines as Python ends them)."""
    return [0] + [m.end() for m in _LINE_END.finditer(text)]


def split_lines(text: str) -> List[str]:
    """The lines of ``text`` without their ends (lines as Python ends them)."""
    return _LINE_END.split(text)


def line_start(text: str, offset: int) -> int:
    """Where the line holding ``offset`` starts (lines as Python ends them)."""
    return max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1


def line_end_before(text: str, start: int, default: str) -> str:
    """The line end that ends the line before the one starting at ``start`` (``default`` on the
    first line): what a line inserted there ends with, so that a file keeps its line ends."""
    if text.endswith("\r\n", 0, start):
        return "\r\n"
    if text.endswith(("\n", "\r"), 0, start):
        return text[start - 1]
    return default


def _readline(data: bytes) -> Callable[[], bytes]:
    """``readline`` over ``data`` with lines as Python ends them (``BytesIO`` ends them at ``\n``
    only: in a file ended by lone ``\r``, its "first line" is the whole file, and a "coding:"
    anywhere in it would be taken for the file's coding declaration)."""
    pos = 0

    def readline() -> bytes:
        nonlocal pos
        end = _LINE_END_BYTES.search(data, pos)
        stop = end.end() if end else len(data)
        line, pos = data[pos:stop], stop
        return line

    return readline


def decode(data: bytes) -> Source:
    if b"\x00" in data:
        raise SourceError("source contains NUL bytes (binary file?)")
    try:
        encoding, _ = tokenize.detect_encoding(_readline(data))
    except SyntaxError as err:
        reason = getattr(err, "msg", None) or str(err)
        if "invalid or missing encoding declaration" in reason:
            reason = "not valid UTF-8 and no coding declaration"
        raise SourceError(f"cannot decode: {reason}") from None
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


def too_big(size: int) -> SourceError:
    return SourceError(f"too big to analyse ({size / 1e6:.1f} MB; bglint reads files of up to {MAX_FILE_BYTES / 1e6:g} MB: exclude generated code)")


def read(path: Union[str, Path], seen: Optional[Callable[[Union[str, Path], os.stat_result, bytes], None]] = None) -> Source:
    """The decoded text of the file ``path`` (a file of more than :data:`MAX_FILE_BYTES` is refused
    unread). ``seen``, when given, is told what ``os.stat`` said of the file just before it was
    read, and the bytes read (see :class:`bglint.cache.ReadLog`)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size > MAX_FILE_BYTES:
                raise too_big(st.st_size)
            data = fh.read()
    except IsADirectoryError:
        raise SourceError("is a directory") from None
    except PermissionError:
        raise SourceError("permission denied") from None
    except FileNotFoundError:
        raise SourceError("no such file") from None
    except OSError as err:
        raise SourceError(f"cannot read: {err.strerror or err}") from None
    if seen is not None:
        seen(path, st, data)
    return decode(data)


def _bracket_depth(text: str) -> int:
    """Deepest bracket nesting outside strings and comments (exact, with the tokenizer)."""
    depth = best = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.OP:
                if tok.string in "([{":
                    depth += 1
                    best = max(best, depth)
                elif tok.string in ")]}":
                    depth -= 1
    except (tokenize.TokenError, SyntaxError) as err:
        # from Python 3.12 the tokenizer is CPython's own, which stops at its nesting limit
        if "too many nested parentheses" in str(err):
            return max(best, MAX_NESTING + 1)
    return best


def _check_nesting(text: str) -> None:
    # CPython refuses more than 200 nested brackets ("too many nested parentheses"), and libcst's
    # native parser crashes the process (not an exception) well before 2000: refuse them up front.
    crude = depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            crude = max(crude, depth)
        elif ch in ")]}":
            depth -= 1
    if crude > MAX_NESTING and _bracket_depth(text) > MAX_NESTING:
        raise SourceError(f"too deeply nested to parse (more than {MAX_NESTING} levels of brackets)")


_PARSE_LOCK = threading.Lock()


def _parse_unvalidated(text: str) -> cst.Module:
    """``cst.parse_module`` without re-validating each node the parser builds.

    Every node's ``__post_init__`` runs its ``_validate`` (a fifth of the parse time, mostly
    regular expressions over whitespace), which only guards hand-built trees: what the parser
    builds is valid by construction (libcst's own note on ``CSTNode.__post_init__``). Nodes built
    elsewhere, fixes included, are still validated: the hook is swapped only while parsing.
    """
    import libcst as cst
    from libcst import CSTNode

    with _PARSE_LOCK:
        validate = CSTNode.__post_init__
        CSTNode.__post_init__ = _no_validation  # type: ignore[method-assign]
        try:
            return cst.parse_module(text)
        finally:
            CSTNode.__post_init__ = validate  # type: ignore[method-assign]


def _no_validation(self: CSTNode) -> None:
    pass


def parse(text: str, check_nesting: bool = True) -> cst.Module:
    """Parse ``text``; ``check_nesting=False`` when CPython has parsed it already (it refuses more
    than 200 nested brackets itself)."""
    import libcst as cst

    if check_nesting:
        _check_nesting(text)
    try:
        return _parse_unvalidated(text)
    except cst.ParserSyntaxError as err:
        raise SourceError(f"syntax error at line {err.raw_line}, column {err.raw_column + 1}: {err.message}") from None
    except RecursionError:
        raise SourceError("too deeply nested to parse") from None
    except Exception as err:  # libcst's native parser reports some inputs with other errors
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SourceError(f"cannot parse: {message}") from None
    finally:
        if len(text) >= RELEASE_AFTER:
            # the native parser's own structures for a big text (a module, or a big class parsed
            # when first looked up) were just freed: tens of MiB glibc would otherwise keep
            release_freed_memory()


_malloc_trim: "Optional[Callable[[int], int]]" = None
_TRIM_UNKNOWN = True


def parse_ast(text: str) -> "ast.Module":
    """``ast.parse(text)`` as ``python`` would parse it: without the warnings CPython's parser
    gives about the code (an invalid escape sequence such as ``"\\d"`` is a SyntaxWarning from
    Python 3.12: printed once per file checked, and an error under ``-W error``), and with
    Python's default recursion limit (a run raises it for libcst), so that an expression nested
    deeper than CPython compiles raises RecursionError here too (Python 3.11 and 3.12 count the
    limit for their tree, 3.13 a deeper one of its own; on 3.9 and 3.10, which build any depth, a
    tree more than :data:`_MAX_AST_DEPTH` levels deep raises it)."""
    import ast
    import warnings

    old = sys.getrecursionlimit()
    depth = 0  # the frames below this call count against the limit: as many more
    frame: Optional[Any] = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    limit = _DEFAULT_RECURSION_LIMIT + depth
    lowered = False
    if old > limit:
        sys.setrecursionlimit(limit)
        lowered = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    finally:
        if lowered:
            sys.setrecursionlimit(old)
    if _AST_HAS_NO_DEPTH_LIMIT and _may_nest_deeply(text) and _deeper_than(tree, _MAX_AST_DEPTH):
        raise RecursionError(f"an expression nested more than {_MAX_AST_DEPTH} levels deep")
    return tree


# Python 3.9 and 3.10 build the tree of an operator chain of any length (`1 + 1 + ...`, 20,000
# terms: a tree 20,000 levels deep), which libcst then parses in time quadratic in its length (four
# minutes); Python 3.11 and later refuse one about 3,000 levels deep (RecursionError).
_AST_HAS_NO_DEPTH_LIMIT = sys.version_info < (3, 11)
_MAX_AST_DEPTH = 3_000
_OPERATOR_CHARS = "+-*/%@&|^~<>="


def _may_nest_deeply(text: str) -> bool:
    """Whether ``text`` has enough operators (each level of a chain needs one) for a chain
    :data:`_MAX_AST_DEPTH` deep: most files have not, and are not walked."""
    total = text.count("and") + text.count("or") + text.count("not")
    for ch in _OPERATOR_CHARS:
        total += text.count(ch)
        if total > _MAX_AST_DEPTH:
            return True
    return total > _MAX_AST_DEPTH


def _deeper_than(tree: "ast.AST", limit: int) -> bool:
    """Whether ``tree`` has a node more than ``limit`` levels down (walked without recursion)."""
    import ast

    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the block runs (and as it was after).

    Parsing builds millions of objects that stay alive while the analysis goes on and hold no
    reference cycles (their memory is freed when the last reference goes): the collector would
    keep re-scanning them (two fifths of the parse time) to free nothing. Wrap everything that
    runs while they live: with the collector back on, its next collection of each generation
    scans them all once (writing litellm's cache entry after the analysis: 0.44 s).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def release_freed_memory() -> None:
    """Hand the memory freed so far back to the operating system, where the C library keeps it
    otherwise (glibc's ``malloc_trim``; elsewhere nothing is done).

    Parsing a big module allocates tens of MiB that are freed at once (CPython's syntax tree, read
    only to plan what libcst parses; libcst's own intermediate structures), interleaved with the
    objects that stay: glibc keeps those pages, and a repository with a few big modules held twice
    the memory it used (measured: 241 -> 170 MiB on litellm's package, for about 2% more time).
    """
    global _malloc_trim, _TRIM_UNKNOWN
    if _TRIM_UNKNOWN:
        _TRIM_UNKNOWN = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _malloc_trim = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
                _malloc_trim = None
    if _malloc_trim is not None:
        _malloc_trim(0)


def call_with_deep_stack(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a thread with a large stack and a high recursion limit.

    libcst parses and visits recursively: long operator chains (thousands of ``+`` in one
    expression, as generated code has) exceed Python's default recursion limit, and the default
    8 MiB thread stack before that limit is raised. The result or exception is handed back.
    """
    result: List[T] = []
    error: List[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as err:  # handed to the caller as is
            error.append(err)

    old_limit = sys.getrecursionlimit()
    old_size = threading.stack_size()
    sys.setrecursionlimit(max(old_limit, _DEEP_RECURSION_LIMIT))
    try:
        threading.stack_size(_DEEP_STACK_BYTES)
        worker = threading.Thread(target=target, name="bglint-deep-stack")
        worker.start()
    finally:
        threading.stack_size(old_size)
    worker.join()
    sys.setrecursionlimit(old_limit)
    if error:
        raise error[0]
    return result[0]


def write_atomic(path: Union[str, Path], data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see either the old or the new file, never half.

    The temporary file lives in the same directory (same filesystem, so ``os.replace`` is atomic)
    and takes the original file's permission bits; a symlink is followed and stays a symlink.
    """
    # through a symlink, the file it points to is replaced: replacing the link would turn it into a copy
    path = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:  # a new file: the permissions a plain open() would give it
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    import tempfile  # only a run that writes needs it (it imports shutil, lzma, ...)

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
