"""The ledger CSV's rows: its columns, each person's rows read and checked, and CSV out.

``ledger.py`` turns a file's bytes into text; this module reads that text as
rows. A ledger export lists a person's rows together, one row a dose, so rows
are grouped into persons as they come. Problems name a row number and a
reason, never a row's contents (personal data). The export leaves out the My
Number (M17).
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TextIO

from card_reader.mynumber import is_valid as my_number_valid
from certs import VACCINES

from .errors import Code, VrsError

if TYPE_CHECKING:
    from .areas import Area

PERSON_FIELDS = (
    "my_number",
    "atena_number",
    "ticket_number",
    "name",
    "birth_date",
    "sex",
    "romanized_name",
    "nationality",
    "passport_number",
    "former_name",
)
DOSE_FIELDS = ("dose_number", "dose_date", "manufacturer", "vaccine_type", "product", "lot_number")
IMPORT_COLUMNS = (*PERSON_FIELDS, "moved_out", "deceased", *DOSE_FIELDS)
EXPORT_COLUMNS = ("atena_number", "ticket_number", "name", "birth_date", "sex", *DOSE_FIELDS)

# (first row number, person, (moved out, deceased), doses, problem)
Group = tuple[int, dict[str, Any], tuple[bool, bool], list[dict[str, Any]], str | None]


def person_groups(text: TextIO) -> Iterator[Group]:
    """(first row number, person, flags, doses, problem) for each run of one person's rows."""
    reader = csv.reader(text)
    try:
        header = next(reader, [])
    except csv.Error:
        raise unreadable() from None
    yield from groups(reader, header, 2)


def header_problem(header: Sequence[str]) -> VrsError | None:
    """The refusal of a file whose header lacks a column every row needs, if it does."""
    missing = [c for c in ("my_number", "name", "birth_date", "sex") if c not in header]
    if missing:
        return VrsError(Code.IMPORT_REJECTED, f"missing columns: {', '.join(missing)}")
    return None


def column(header: Sequence[str], name: str) -> int:
    """Where ``name`` is in a row (the header's width, past its end, if the file lacks it)."""
    return header.index(name) if name in header else len(header)


def groups(rows: Iterable[list[str]], header: Sequence[str], first: int) -> Iterator[Group]:
    """:func:`person_groups` of rows after ``header``; ``first`` is the first row's number."""
    if (refusal := header_problem(header)) is not None:
        raise refusal
    # columns by position (no dict per row: the import is CPU-bound); a "" appended to
    # every row stands in for the columns the file lacks
    width = len(header)
    pad = [""] * (width + 1)
    person_of = operator.itemgetter(*(column(header, f) for f in PERSON_FIELDS))
    dose_of = operator.itemgetter(*(column(header, f) for f in DOSE_FIELDS))
    flags_of = operator.itemgetter(column(header, "moved_out"), column(header, "deceased"))
    current: list[Any] | None = None
    current_key: tuple[str, ...] | None = None
    try:
        for line, values in enumerate(rows, start=first):
            if len(values) <= width:
                values += pad[len(values) :]
            key = person_of(values)
            same_person = key == current_key
            # person fields are checked once per person, dose fields on every row
            problem = None if same_person else _person_problem(key)
            dose = None
            if problem is None:
                checked = _dose(dose_of(values))
                if isinstance(checked, str):
                    problem = checked
                else:
                    dose = checked
            if problem is not None:
                # the row number and the reason only: the row's contents are personal data
                yield line, {}, (False, False), [], problem
                continue
            if not same_person:
                record = dict(zip(PERSON_FIELDS, map(str.strip, key), strict=True))
                if current is not None:
                    if current[1]["my_number"] == record["my_number"]:
                        yield (
                            line,
                            record,
                            (False, False),
                            [],
                            "the same My Number with different personal data",
                        )
                        continue
                    yield tuple(current)
                moved, dead = flags_of(values)
                current = [line, record, (_flag(moved), _flag(dead)), [], None]
                current_key = key
            if dose is not None:
                assert current is not None
                n = dose["dose_number"]
                if n in map(_DOSE_NUMBER, current[3]):
                    yield line, current[1], (False, False), [], "the same dose number twice"
                    continue
                current[3].append(dose)
    except csv.Error:
        raise unreadable() from None
    if current is not None:
        yield tuple(current)


def unreadable() -> VrsError:
    """The one clear refusal of a file the CSV reader cannot read (a field over its limit, …)."""
    return VrsError(Code.IMPORT_REJECTED, "the file is not a readable CSV file")


def export_rows(area: Area) -> Iterator[str]:
    """An area's vaccination records without My Number (M17), one row per dose."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_COLUMNS)
    for row in area.storage.persons(area.code):
        p = area.keys.open("persons", row.id, row.sealed)
        for d in area.doses(row.id) or [{}]:
            writer.writerow(
                [
                    p.get("atena_number", ""),
                    p.get("ticket_number", ""),
                    p["name"],
                    p["birth_date"],
                    p["sex"],
                    *(d.get(f, "") for f in DOSE_FIELDS),
                ]
            )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


_P = {f: i for i, f in enumerate(PERSON_FIELDS)}
_DOSE_NUMBER = operator.itemgetter("dose_number")


def _person_problem(p: tuple[str, ...]) -> str | None:
    """What is wrong with a row's person fields (in PERSON_FIELDS order), if anything."""
    if not my_number_valid(p[_P["my_number"]].strip()):
        return "my_number is not a valid 12-digit My Number"
    if not p[_P["name"]].strip():
        return "name is empty"
    try:
        date.fromisoformat(p[_P["birth_date"]].strip())
    except ValueError:
        return "birth_date is not YYYY-MM-DD"
    if p[_P["sex"]].strip() not in ("1", "2", "9", "0"):
        return "sex is not 1, 2, 9 or 0"
    coupon = p[_P["ticket_number"]].strip()
    if coupon and not (len(coupon) == 10 and coupon.isascii() and coupon.isdigit()):
        return "ticket_number (the vaccination coupon number) is not 10 digits"
    return None


def _dose(d: tuple[str, ...]) -> dict[str, Any] | str | None:
    """A row's dose (fields in DOSE_FIELDS order), what is wrong with it, or None: no number."""
    number, when, maker, kind, product, lot = d
    if not number:
        return None
    number = number.strip()
    if not (number.isascii() and number.isdigit()) or not 1 <= (n := int(number)) <= 20:
        return "dose_number is not a number from 1 to 20"
    when = when.strip()
    try:
        date.fromisoformat(when)
    except ValueError:
        return "dose_date is not YYYY-MM-DD"
    product = product.strip()
    if product not in VACCINES:
        return f"product is not one of {', '.join(VACCINES)}"
    lot = lot.strip()
    if not lot:
        return "lot_number is empty"
    # the keys in DOSE_FIELDS order: the sealed JSON as before
    return {
        "dose_number": n,
        "dose_date": when,
        "manufacturer": maker.strip(),
        "vaccine_type": kind.strip(),
        "product": product,
        "lot_number": lot,
    }
