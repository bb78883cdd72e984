"""What the SQLite and the PostgreSQL storages share beyond their SQL dialect.

Each backend keeps its SQL in its own module (``storage.py``, ``pg_storage.py``);
here are the rows both hand back and how a result row becomes one, the refusals
both raise, and how a transaction nests inside another (:class:`StorageBase`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from typing import Any

from .errors import Code, VrsError
from .municipalities import Municipality

log = logging.getLogger("vrs.storage")

# from_person/to_person: opaque row IDs in each area; from_person is empty when A had no record
TRANSFER_COLUMNS = (
    "id",
    "at",
    "actor",
    "from_area",
    "to_area",
    "from_person",
    "to_person",
    "doses",
    "outcome",
)
OPLOG_COLUMNS = ("id", "at", "actor", "area", "action", "target", "outcome")


@dataclass(frozen=True)
class MunicipalityRow(Municipality):
    """A municipality as stored: with its data key, wrapped under the master key."""

    wrapped_key: bytes

    def values(self) -> tuple[Any, ...]:
        """The row's values in the table's column order."""
        return astuple(self)


@dataclass(frozen=True)
class PersonRow:
    id: str
    municipality: str
    sealed: bytes
    moved_out: bool
    deceased: bool


# --- result rows as either database gives them (flags as 0/1 or booleans, blobs as bytes or
# memoryviews)
def municipality_row(r: Sequence[Any]) -> MunicipalityRow:
    return MunicipalityRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], bytes(r[7]))


def person(r: Sequence[Any]) -> PersonRow:
    """The columns ``id, municipality, sealed, moved_out, deceased``."""
    return PersonRow(r[0], r[1], bytes(r[2]), bool(r[3]), bool(r[4]))


def holder(r: Sequence[Any]) -> tuple[str, bool, bool]:
    """The columns ``id, moved_out, deceased`` of a coupon's holder."""
    return (r[0], bool(r[1]), bool(r[2]))


def column_names(description: Iterable[Sequence[Any]] | None) -> list[str]:
    """The names of a cursor's columns (its DB-API ``description``)."""
    return [d[0] for d in description or ()]


def records(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, r, strict=True)) for r in rows]


# --- refusals
def unreachable() -> VrsError:
    return VrsError(
        Code.STORAGE_ERROR,
        "the record system cannot reach its database; nothing was written. Try again later",
    )


def busy() -> VrsError:
    return VrsError(Code.BUSY, "the record system is busy with another write; try again shortly")


def disk_full() -> VrsError:
    log.error("the database's disk is full: the write was not made")
    return VrsError(
        Code.STORAGE_FULL,
        "the record system's disk is full; nothing was written. Try again later",
    )


class StorageBase:
    """Transactions that nest, and lookups by column: the same on both backends.

    A backend opens the outermost transaction (``_outermost``, which sets
    ``self._local.depth`` to 1 while it is open) and finds one person by a
    column of its own SQL (``_person_where``).
    """

    _local: threading.local

    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.in_transaction():  # nested: part of the enclosing transaction
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._outermost():
            yield

    def _outermost(self) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def _person_where(self, municipality: str, column: str, value: Any) -> PersonRow | None:
        """The person of ``municipality`` whose ``column`` (a constant of ours) is ``value``."""
        raise NotImplementedError

    def find_person(self, municipality: str, blind_index: bytes) -> PersonRow | None:
        return self._person_where(municipality, "blind_index", blind_index)

    def get_person(self, municipality: str, person_id: str) -> PersonRow | None:
        return self._person_where(municipality, "id", person_id)
