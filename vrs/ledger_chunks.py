"""A ledger file cut into chunks of whole persons, read, checked and sealed by worker processes.

One core cannot check and seal rows as fast as PostgreSQL's COPY takes them
(about 11 µs of Python a row to check and seal), so the importing process only reads the file,
cuts it between two persons and hands each chunk to a pool of
``os.cpu_count()`` processes holding the area's keys; the sealed chunks come
back in the file's order, each with its rows' problems by row number, and the
importing process stages them (ledger_import.py) while the next are sealed.
A file of one chunk is sealed in the importing process: no pool for it.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import logging
import multiprocessing
import os
import secrets
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from typing import TextIO

from .crypto import AreaKeys
from .ledger_rows import column, groups, unreadable

log = logging.getLogger("vrs.import")

CHUNK = 1 << 20  # characters read at a time (~7,000 CSV rows): a worker's unit of work
AHEAD = 2  # chunks queued per worker: none idles while the importing process stages

# (row index in its chunk, blind index, row ID, sealed person, moved out, deceased,
#  coupon index, sealed dose list): a person ready to stage
Person = tuple[int, bytes, str, bytes, bool, bool, bytes | None, bytes | None]
Problem = tuple[int, str]  # (row index in its chunk, reason)


@dataclass(frozen=True)
class Sealed:
    """One chunk: how many CSV rows it had, its persons and problems in the file's order."""

    rows: int
    events: list[Person | Problem]
    readable: bool = True


def sealed_chunks(
    keys: AreaKeys, header: Sequence[str], text: TextIO
) -> Generator[Sealed, None, None]:
    """Each chunk of ``text`` (the rows after ``header``) sealed, in the file's order.

    Raises the file's refusal if a chunk is not readable CSV. Closing the
    generator early stops the pool (queued chunks dropped).
    """
    chunks = _chunks(text, column(header, "my_number"), CHUNK)
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    ids = _RowIds()
    if second is None:  # a small file: not worth starting processes for
        yield _checked(seal_chunk(keys, header, first, ids.base(first)))
        return
    workers = _Workers(keys, header)
    try:
        queued: collections.deque[_Queued] = collections.deque()
        for chunk in _then(first, second, chunks):
            queued.append(workers.seal(chunk, ids.base(chunk)))
            while queued and (
                isinstance(queued[0], Sealed) or len(queued) > AHEAD * (os.cpu_count() or 1)
            ):
                yield _checked(workers.result(queued.popleft()))
        while queued:
            yield _checked(workers.result(queued.popleft()))
    finally:
        workers.close()


def start_early(size: int) -> None:
    """For a file of ``size`` bytes about to be imported: start the fork server now.

    It imports this package in the background (a fraction of a second) while the
    caller decodes the file and opens the database, instead of after.
    """
    if size > CHUNK:
        _context()
        with contextlib.suppress(OSError):  # then the pool cannot start either, and says so
            forkserver.ensure_running()


def seal_chunk(keys: AreaKeys, header: Sequence[str], text: str, id_base: int) -> Sealed:
    """Check and seal a chunk's rows; row IDs from ``id_base`` up (in the file's order)."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return Sealed(0, [], readable=False)
    seal = keys.seal
    seal_doses = keys.dose_keys().seal_doses
    events: list[Person | Problem] = []
    n = id_base
    for row, record, (moved, dead), doses, problem in groups(rows, header, 0):
        if problem is not None:
            events.append((row, problem))
            continue
        # increasing within the import (rows append to the primary key's B-tree), unique
        pid = f"{n:016x}{secrets.token_hex(4)}"
        n += 1
        coupon = record["ticket_number"]
        events.append(
            (
                row,
                keys.blind_index(record["my_number"]),
                pid,
                seal("persons", pid, record),
                moved,
                dead,
                # the coupon's own blind index: what a vaccination site looks up (M12)
                keys.coupon_index(coupon) if coupon else None,
                # all of a person's doses in one sealed list: one AES-GCM per person
                seal_doses(pid, doses) if doses else None,
            )
        )
    return Sealed(len(rows), events)


# a chunk sealed already, or on its way: (its future, the chunk and its first row ID)
_Queued = Sealed | tuple["Future[Sealed]", str, int]


class _Workers:
    """The pool of worker processes; this process seals while it starts, or if it fails.

    The workers take a while to start (a fork server importing this package):
    the chunks that come meanwhile are sealed here rather than waited for. A
    pool that cannot start or loses a worker (killed, out of memory) leaves the
    chunks it held to this process: slower, never an import lost to it.
    """

    def __init__(self, keys: AreaKeys, header: Sequence[str]) -> None:
        self.keys, self.header = keys, tuple(header)
        self._pool = ProcessPoolExecutor(
            os.cpu_count() or 1, _context(), initializer=_hold, initargs=(keys, self.header)
        )
        self._up = False
        self._broken = False
        self._starting = threading.Thread(target=self._start, name="vrs-import-pool")
        self._starting.start()

    def _start(self) -> None:
        try:
            self._pool.submit(_ready).result()
            self._up = True
        except Exception as exc:  # BrokenProcessPool, OSError: no processes to be had
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if not self._broken:
            log.warning(
                "the import's worker processes failed (%s); this process seals the rest",
                type(exc).__name__,
            )
        self._broken = True

    def seal(self, chunk: str, id_base: int) -> _Queued:
        if self._up and not self._broken:
            try:
                return (self._pool.submit(_seal_held, chunk, id_base), chunk, id_base)
            except BrokenProcessPool as exc:
                self._fail(exc)
        return seal_chunk(self.keys, self.header, chunk, id_base)

    def result(self, queued: _Queued) -> Sealed:
        if isinstance(queued, Sealed):
            return queued
        future, chunk, id_base = queued
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._fail(exc)
            return seal_chunk(self.keys, self.header, chunk, id_base)

    def close(self) -> None:
        self._starting.join()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _RowIds:
    """Where each chunk's row IDs start: the clock's nanoseconds, past the chunk before's."""

    def __init__(self) -> None:
        self._next = 0

    def base(self, chunk: str) -> int:
        start = max(self._next, time.time_ns())
        self._next = start + len(chunk)  # more than the chunk's persons
        return start


def _checked(sealed: Sealed) -> Sealed:
    if not sealed.readable:
        raise unreadable()
    return sealed


def _then(first: str, second: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield second
    yield from rest


# --- cutting the file between persons
def _chunks(text: TextIO, my_number: int, size: int) -> Iterator[str]:
    """The text in pieces of whole CSV records, a person's rows never in two pieces.

    A person's rows are the rows in a row with the same My Number (stripped), as
    ``ledger_rows.groups`` sees them: its checks across rows all fall inside one piece.
    """
    rest = ""
    run = 0  # rest[:run] is known to be one person's rows (no cut in it): not read again
    while block := text.read(size):
        rest += block
        if len(block) < size:  # the end of the file (read waits for the whole size until then)
            break
        cut = _cut(rest, my_number, run)
        run = rest.rfind("\n") + 1 - cut
        if cut:
            yield rest[:cut]
            rest = rest[cut:]
    if rest:
        yield rest


def _cut(text: str, my_number: int, run: int) -> int:
    """Where ``text`` may be cut (0: nowhere yet): after a whole record, between two persons.

    The last whole line is always left for the next piece: its person may go on past it.
    ``text[:run]`` is one person's rows, as a previous call found: the search stops there
    (a file of one My Number, row after row, is read once, not once per block).
    """
    end = text.rfind("\n") + 1
    if '"' in text[:end]:  # a quoted field may hold a line break: find records by reading
        return _cut_quoted(text[:end], my_number)
    # no quotes: each line break ends a record; compare the lines on each side of a break
    stop = end
    after = None
    while stop > 0:
        start = text.rfind("\n", 0, stop - 1) + 1
        numbers = _numbers(text[start:stop], my_number)
        if after is not None and numbers and numbers[-1] != after:
            return stop
        if numbers:
            after = numbers[0]
        if start < run:
            return 0
        stop = start
    return 0


def _cut_quoted(text: str, my_number: int) -> int:
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for line in io.StringIO(text, newline=""):
            consumed += len(line)
            yield line

    ends: list[tuple[int, str]] = []  # (where each record ends, its My Number)
    try:
        for values in csv.reader(lines()):
            ends.append((consumed, _number(values, my_number)))
    except csv.Error:  # not CSV: the piece that holds it is refused whole, wherever it ends
        return len(text)
    # the last record may be cut short by the end of the text: never a cut after it
    for i in range(len(ends) - 3, -1, -1):
        if ends[i][1] != ends[i + 1][1]:
            return ends[i][0]
    return 0


def _numbers(line: str, my_number: int) -> list[str]:
    """The My Numbers of the records in a line without quotes (a lone CR ends one too)."""
    try:
        return [_number(values, my_number) for values in csv.reader(io.StringIO(line, newline=""))]
    except csv.Error:
        return []


def _number(values: list[str], my_number: int) -> str:
    return values[my_number].strip() if my_number < len(values) else ""


# --- the worker processes
_held: tuple[AreaKeys, tuple[str, ...]] | None = None


def _hold(keys: AreaKeys, header: tuple[str, ...]) -> None:
    """A worker's start: the area's keys and the file's header, for every chunk it seals."""
    global _held
    _held = (keys, header)


def _ready() -> None:
    """The first task: done once the workers have started."""


def _seal_held(text: str, id_base: int) -> Sealed:
    assert _held is not None, "the pool's initializer holds the keys"
    return seal_chunk(*_held, text, id_base)


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server process of their own, never from this one.

    This process has threads (the server's workers, psycopg's pool): a fork of it
    may copy a lock another thread holds. The fork server imports this module
    (and, as multiprocessing wants, the main one) once; each pool's workers are
    forked from it, ready at once.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", __name__])
    return ctx
