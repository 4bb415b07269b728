"""Work shared with a forked process on a core that would otherwise sit idle (Linux only).

A run over one project with two cores leaves one idle: :mod:`bglint.planner` plans the candidate
texts there while the hand-off search parses; :func:`share` then lints the project's files in two
processes. A run over several projects in a process pool leaves a core idle once a worker has no
project left: the worker still busy then lints the rest of its project with :func:`share` (see
:func:`watch_pool`). Both fork the same process (:func:`fork`) and split the work the same way: each piece is done once, by whichever process takes
it first (:class:`Claims`); what the forked process has not done (it failed on a piece, or died)
is done here, so the result is the same as doing all of it here.

The process, its pipe and the claims are made with ``os`` directly: ``multiprocessing`` would
import 37 modules for them (``ctypes``, ``socket``, ``subprocess``, ``tempfile``, ``bz2`` ...),
14 ms of a 0.6 s run, before the planner could start.
"""

from __future__ import annotations

import os
import pickle
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

FREE, THERE, HERE = 0, 1, 2  # who does a piece: nobody yet, the forked process, this one

T = TypeVar("T")
R = TypeVar("R")


class Claims:
    """Who does each of ``n`` pieces of work: one byte each in memory shared with the forked
    process (a memfd, mapped by both), set under a POSIX record lock on it, which the kernel
    drops when the process holding it dies."""

    def __init__(self, n: int) -> None:
        import mmap

        memfd_create = getattr(os, "memfd_create", None)
        if memfd_create is None:
            raise OSError("no memfd_create here")
        self._fd = memfd_create("bglint-claims", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.ftruncate(self._fd, max(n, 1))
            self._taken = mmap.mmap(self._fd, max(n, 1))  # shared with the forked process
        except (OSError, ValueError):
            os.close(self._fd)
            raise

    def take(self, i: int, who: int) -> bool:
        """Whether ``who`` takes piece ``i`` (nobody had it)."""
        import fcntl

        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            if self._taken[i] != FREE:
                return False
            self._taken[i] = who
            return True
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def holder(self, i: int) -> int:
        return int(self._taken[i])

    def close(self) -> None:
        if self._fd >= 0:
            self._taken.close()
            os.close(self._fd)
            self._fd = -1


# One byte of memory shared with a process pool's workers (made before they are forked): set
# by the process that hands out the projects once it has none left to hand out and as many
# workers idle as busy (see bglint.checking._in_processes); a busy worker then lints the rest of
# its project with :func:`share` (see bglint.engine).
_IDLE_IN_POOL: Optional[Any] = None


def watch_pool() -> None:
    """Before a process pool's workers are forked: the memory in which this process can tell
    them (:func:`pool_half_idle`) that they may fork a process each. Where it cannot be made,
    they are never told."""
    global _IDLE_IN_POOL
    import mmap

    unwatch_pool()
    try:
        _IDLE_IN_POOL = mmap.mmap(-1, 1)  # anonymous and shared (MAP_SHARED): forks see it
    except (OSError, ValueError):
        _IDLE_IN_POOL = None


def pool_half_idle() -> None:
    """In the pool's parent: as many of its workers are idle, with no project left for them,
    as are busy; each busy one may fork a process for the rest of its project."""
    if _IDLE_IN_POOL is not None:
        _IDLE_IN_POOL[0] = 1


def core_idle() -> bool:
    """In a pool's worker: whether its parent said a core is idle (:func:`pool_half_idle`)."""
    return _IDLE_IN_POOL is not None and _IDLE_IN_POOL[0] == 1


def unwatch_pool() -> None:
    """The pool is done: the next one starts unset."""
    global _IDLE_IN_POOL
    if _IDLE_IN_POOL is not None:
        _IDLE_IN_POOL.close()
        _IDLE_IN_POOL = None


def share(items: Sequence[T], work: Callable[[T], R], finish: Callable[[], Any]) -> Tuple[List[R], Optional[Any]]:
    """``work`` over ``items`` (in order) in this process and a forked one, which starts with
    this process's state: each item is done once, where it was taken first. Returns the results
    in the order of ``items`` (``work``'s results must be picklable), and what ``finish()``
    returned in the forked process once it had done its part (None if it did not finish)."""
    try:
        process, reader, claims = fork(items, work, finish)
    except (OSError, ValueError):  # no fork, no pipe: all of it here
        return [work(item) for item in items], None
    results: Dict[int, R] = {}
    finished: List[Any] = []

    def receive() -> bool:
        """One message into the results; False when there are no more."""
        try:
            i, done, result = reader.recv()
        except (EOFError, OSError):  # all sent, or it died
            return False
        if i < 0:
            finished.append(result)
        elif done:
            results[i] = result
        return True

    try:
        for i, item in enumerate(items):
            if claims.take(i, HERE):
                results[i] = work(item)
            while reader.poll() and receive():  # read as they come: a full pipe would stall it
                pass
        while receive():
            pass
    finally:
        stop(process, reader, claims)
    for i, item in enumerate(items):  # what it took and did not do (it failed, or died): here
        if i not in results:
            results[i] = work(item)
    return [results[i] for i in range(len(items))], (finished[0] if finished else None)


def fork(
    items: Sequence[T], work: Callable[[T], R], finish: Optional[Callable[[], Any]] = None, order: Optional[Callable[[], Iterable[int]]] = None
) -> Tuple[Any, Any, Claims]:
    """A forked process, started, doing ``work`` on each of ``items`` it takes (see
    :func:`_work_there`), in the order of the indexes ``order()`` gives there (default: as they
    are); returns it, the end of the pipe its results come from, and the claims this process
    takes items with. Raises OSError or ValueError where it cannot be made."""
    claims = Claims(len(items))
    try:
        read_end, write_end = os.pipe()
    except OSError:
        claims.close()
        raise
    _widen(write_end)
    with warnings.catch_warnings():
        # the analysis runs on a thread with a deep stack (sources.call_with_deep_stack) while
        # the main thread only waits for it, holding nothing the child could need: Python
        # 3.12's warning about forking a process with threads does not apply
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            claims.close()
            raise
    if pid == 0:  # the forked process: it never returns from here
        try:
            os.close(read_end)
            _work_there(items, work, finish, _Writer(write_end), claims, *((order,) if order is not None else ()))
        finally:
            os._exit(1)  # (_work_there ends the process itself, with 0)
    os.close(write_end)
    return _Process(pid), _Reader(read_end), claims


PIPE_BYTES = 1 << 20  # Linux's most an unprivileged process may ask for (fs.pipe-max-size)


def _widen(fd: int) -> None:
    """Room in the pipe for what the forked process sends before this process reads it (the
    planner plans while this process imports libcst: 64 KiB, the default, holds one or two plans,
    and a full pipe stops it until read). Where the system refuses, the pipe stays as it is."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):
        pass


class _Process:
    """The forked process: is it alive, its exit code, killed, waited for."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.exitcode: Optional[int] = None

    def is_alive(self) -> bool:
        if self.exitcode is None:
            self._reap(os.WNOHANG)
        return self.exitcode is None

    def kill(self) -> None:
        import signal

        if self.is_alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for it to end (at most ``timeout`` seconds)."""
        import time

        if timeout is None:
            while self.exitcode is None:
                self._reap(0)
            return
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)

    def _reap(self, flags: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped already
            self.exitcode = -1
            return
        if pid:
            self.exitcode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


class _Writer:
    """The forked process's end of the pipe: pickled messages, each after its length."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        view = memoryview(len(data).to_bytes(8, "little") + data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        os.close(self._fd)


class _Reader:
    """This process's end of the pipe."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def poll(self) -> bool:
        """Whether there is something to read (a message, or the end)."""
        import select

        return bool(select.select([self._fd], [], [], 0)[0])

    def recv(self) -> Any:
        """The next message; EOFError at the end, OSError when it ends within a message."""
        head = self._read(8, at_start=True)
        return pickle.loads(self._read(int.from_bytes(head, "little")))

    def _read(self, size: int, at_start: bool = False) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self._fd, min(size, 1 << 20))
            if not chunk:
                if at_start and not chunks:
                    raise EOFError
                raise OSError("the pipe ended within a message")
            chunks.append(chunk)
            size -= len(chunk)
            at_start = False
        return b"".join(chunks)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def stop(process: Any, reader: Any, claims: Claims, drain: Optional[Callable[[], None]] = None) -> None:
    """Done with a process from :func:`fork`: the process ended (killed if need be), then
    ``drain()`` (what it sent before, still in the pipe), then its pipe and claims closed."""
    process.kill()
    process.join()
    if drain is not None:
        drain()
    reader.close()
    claims.close()


def _work_there(
    items: Sequence[T],
    work: Callable[[T], R],
    finish: Optional[Callable[[], Any]],
    writer: Any,
    claims: Claims,
    order: Optional[Callable[[], Iterable[int]]] = None,
) -> None:
    """In the forked process: each item not taken by the parent (in the order ``order()``
    gives, if any), taken and done, as (index, True, result); an item whose work raises is left
    to the parent, (index, False, None), which then fails the same way, where it is reported.
    Then, with ``finish``, (-1, True, ``finish()``)."""
    from bglint import sources

    def work_each() -> None:
        for i in order() if order is not None else range(len(items)):
            if not claims.take(i, THERE):
                continue
            try:
                result = work(items[i])
            except Exception:  # an interrupt ends the process
                writer.send((i, False, None))
            else:
                writer.send((i, True, result))
        if finish is not None:
            writer.send((-1, True, finish()))

    try:
        sources.call_with_deep_stack(work_each)
    finally:
        writer.close()
        os._exit(0)  # nothing of the parent's to flush or tear down
