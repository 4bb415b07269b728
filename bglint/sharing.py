"""Work shared with a forked process on a core that would otherwise sit idle (Linux only).

A run over one project with two cores leaves one idle: :mod:`bglint.planner` plans the candidate
texts there while the hand-off search parses; :func:`share` then lints the project's files in two
processes. Both fork the same process (:func:`fork`) and split the work the same way: each piece is done once, by whichever process takes
it first (:class:`Claims`); what the forked process has not done (it failed on a piece, or died)
is done here, so the result is the same as doing all of it here.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

FREE, THERE, HERE = 0, 1, 2  # who does a piece: nobody yet, the forked process, this one

T = TypeVar("T")
R = TypeVar("R")


class Claims:
    """Who does each of ``n`` pieces of work: one byte each in memory shared with the forked
    process, set under a lock."""

    def __init__(self, context: Any, n: int) -> None:
        self._lock = context.Lock()
        self._taken = context.Array("b", n, lock=False)
        self.broken = False  # a lock the other process died holding: this process does the rest

    def take(self, i: int, who: int) -> bool:
        """Whether ``who`` takes piece ``i`` (nobody had it). A lock not given back within a
        second (its holder died) gives every piece left to this process (HERE)."""
        if not self.broken and self._lock.acquire(timeout=1.0):
            try:
                if self._taken[i] != FREE:
                    return False
                self._taken[i] = who
                return True
            finally:
                self._lock.release()
        self.broken = True
        return who == HERE

    def holder(self, i: int) -> int:
        return int(self._taken[i])


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
        stop(process, reader)
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
    import multiprocessing

    context = multiprocessing.get_context("fork")
    claims = Claims(context, len(items))
    reader, writer = context.Pipe(duplex=False)
    _widen(writer)
    args = (items, work, finish, writer, claims) + ((order,) if order is not None else ())
    process = context.Process(target=_work_there, args=args, daemon=True)
    with warnings.catch_warnings():
        # the analysis runs on a thread with a deep stack (sources.call_with_deep_stack) while
        # the main thread only waits for it, holding nothing the child could need: Python
        # 3.12's warning about forking a process with threads does not apply
        warnings.simplefilter("ignore", DeprecationWarning)
        process.start()
    writer.close()
    return process, reader, claims


PIPE_BYTES = 1 << 20  # Linux's most an unprivileged process may ask for (fs.pipe-max-size)


def _widen(writer: Any) -> None:
    """Room in the pipe for what the forked process sends before this process reads it (the
    planner plans while this process imports libcst: 64 KiB, the default, holds one or two plans,
    and a full pipe stops it until read). Where the system refuses, the pipe stays as it is."""
    try:
        import fcntl

        fcntl.fcntl(writer.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):
        pass


def stop(process: Any, reader: Any) -> None:
    """Done with a process from :func:`fork`: its pipe closed, the process ended."""
    reader.close()
    if process.is_alive():
        process.kill()
    process.join()


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
