"""A ledger import into one area: all rows or none, staged outside any lock, merged at once.

Rows are checked and sealed as they come, in chunks of whole persons by worker
processes (``ledger_chunks``), and staged in the file's order, holding no lock:
issuance and every other write go on meanwhile. Only a clean file is merged, in
one short transaction with its log entry.
"""

from __future__ import annotations

import contextlib
import csv
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from .errors import Code, VrsError
from .ledger_chunks import sealed_chunks
from .ledger_rows import header_problem, unreadable
from .storage import PersonRow, Staging

if TYPE_CHECKING:
    from .areas import Area

BATCH = 5000  # persons staged at a time: bounds memory, not the import's size


def import_ledger(area: Area, text: TextIO, actor: str | None = None) -> int:
    """All rows or none: errors are reported by row number and nothing is kept.

    The first bad row stops the staging; the pass goes on to report every
    bad row. The merge, with its log entry (``actor``'s ``records.import``,
    when given), is one transaction: a person already registered, a full disk
    or a crash there keeps nothing, and the staging file is removed in every case.
    """
    try:
        header = next(csv.reader(text), [])
    except csv.Error:
        raise unreadable() from None
    if (refusal := header_problem(header)) is not None:
        raise refusal
    errors: list[dict[str, object]] = []
    refused: VrsError | None = None  # the database's refusal of a batch (PostgreSQL's early merge)
    seen: set[bytes] = set()
    count = 0
    row = 2  # the first row's number after the header
    with (
        contextlib.closing(sealed_chunks(area.keys, header, text)) as chunks,
        area.storage.staging() as stage,
    ):
        batch: list[tuple[PersonRow, bytes, bytes | None]] = []
        dose_rows: list[tuple[str, bytes]] = []
        for sealed in chunks:
            for event in sealed.events:
                if len(event) == 2:  # a row's problem
                    errors.append({"row": row + event[0], "reason": event[1]})
                    continue
                line, digest, pid, blob, moved, dead, coupon_index, doses = event
                if digest in seen:
                    errors.append(
                        {"row": row + line, "reason": "this person's rows are not together"}
                    )
                seen.add(digest)
                if errors or refused:
                    continue
                batch.append((PersonRow(pid, area.code, blob, moved, dead), digest, coupon_index))
                if doses is not None:
                    dose_rows.append((pid, doses))
                count += 1
                if len(batch) >= BATCH:
                    # the file's row errors come first: a refusal waits until the scan is done
                    refused = _refusal(lambda: stage_batch(stage, batch, dose_rows))
            row += sealed.rows
        if errors:
            raise VrsError(
                Code.IMPORT_REJECTED,
                f"{len(errors)} row(s) rejected; nothing was imported",
                errors[:100],
            )
        if refused is None:

            def last() -> None:
                stage_batch(stage, batch, dose_rows)
                stage.finish()

            refused = _refusal(last)
        if refused is not None:
            raise refused
        with area.storage.transaction():
            _merge(area, stage)
            if actor is not None:  # the rows and their log entry, or neither
                area.vrs.log(actor, area.code, "records.import", f"{count} persons")
    return count


def stage_batch(
    stage: Staging,
    persons: list[tuple[PersonRow, bytes, bytes | None]],
    doses: list[tuple[str, bytes]],
) -> None:
    """Write a batch into the staging file and empty the lists for the next one."""
    stage.add_persons(persons)
    stage.add_doses(doses)
    persons.clear()
    doses.clear()


def _merge(area: Area, stage: Staging) -> None:
    refused = _refusal(lambda: area.storage.merge(stage))
    if refused is not None:
        raise refused


def _refusal(step: Callable[[], object]) -> VrsError | None:
    """The import's refusal if ``step`` breaks a uniqueness rule; other errors raised as they are."""
    try:
        step()
    except Exception as exc:  # sqlite3.IntegrityError and its kin in other backends
        if "UNIQUE" in str(exc).upper() and "coupon_index" in str(exc):
            return VrsError(
                Code.IMPORT_REJECTED,
                "two persons in this area would have the same ticket_number (coupon number);"
                " nothing was imported",
            )
        if "UNIQUE" in str(exc).upper():
            return VrsError(
                Code.IMPORT_REJECTED,
                "a person in the file is already registered in this area; nothing was imported",
            )
        raise
    return None


def new_row_id() -> str:
    """Opaque, unique, and increasing: rows append to the primary-key B-tree."""
    return f"{time.time_ns():016x}{secrets.token_hex(4)}"
