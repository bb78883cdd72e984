"""Dose records follow a person who moved: municipality B asks former municipality A (M18).

Staff of B (the municipality the person moved into) ask VRS for A's records
of a person, by My Number:

1. B must hold the person itself: B's own area finds the My Number (B has
   registered the person from its resident registry). Otherwise the request
   is refused and A is never asked: nothing reaches A's area or A's logs.
2. A looks for the person by A's own blind index. Not found: B hears "no
   record", and A keeps nothing of the number (the index is computed in
   memory and dropped); A's logs say only that an inquiry from B found nothing.
3. Found: that person's doses, nothing else of A's, are opened with A's key
   and sealed again with B's key into B's record of the person, merged by
   dose number (a dose B recorded already stays as B recorded it). B's staff
   get the doses that were added.

Every inquiry that reaches A is one row of the transfer log (who, when, from,
to, opaque row IDs, doses, outcome) that administrators of both sides review,
and an entry in both areas' operation logs. No My Number, name or birth date
is written on the way.
"""

from __future__ import annotations

from typing import Any

from . import clock
from .areas import Area, Vrs
from .errors import Code, VrsError
from .storage import PersonRow


def transfer(vrs: Vrs, actor: str, to_code: str, from_code: str, my_number: str) -> dict[str, Any]:
    """Copy A's (``from_code``) dose records of a person B (``to_code``) holds into B's area."""
    to_area = vrs.area(to_code)
    if from_code == to_code:
        raise VrsError(Code.BAD_REQUEST, "from_municipality must be another municipality")
    from_area = vrs.area(from_code)
    with vrs.storage.transaction():
        mine = vrs.storage.find_person(to_code, to_area.keys.blind_index(my_number))
        done = _provide(vrs, actor, to_area, from_area, mine, my_number) if mine else None
    if mine is None or done is None:
        # refused before A was asked: only B's log knows
        vrs.log(actor, to_code, "transfer.request", f"from {from_code}", "not_confirmed")
        raise VrsError(
            Code.NOT_CONFIRMED,
            "this person is not registered in your municipality's area; register them first",
        )
    entry, provided = done
    if entry["from_person"] is None:
        raise VrsError(Code.NO_RECORD, "the former municipality has no record of this person")
    return {
        "transfer_id": entry["id"],
        "from_municipality": from_code,
        "to_municipality": to_code,
        "person_id": mine.id,
        "provided": provided,
        "doses": len(to_area.doses(mine.id)),
    }


def _provide(
    vrs: Vrs, actor: str, to_area: Area, from_area: Area, mine: PersonRow, my_number: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A's part, inside the caller's transaction: find, copy, record on both sides."""
    storage = vrs.storage
    to_code, from_code = to_area.code, from_area.code
    found = storage.find_person(from_code, from_area.keys.blind_index(my_number))
    provided: list[dict[str, Any]] = []
    if found is not None:
        held = to_area.doses(mine.id)
        numbers = {d["dose_number"] for d in held}
        provided = [
            {**d, "transferred_from": from_code}
            for d in from_area.doses(found.id)
            if d["dose_number"] not in numbers
        ]
        if provided:
            merged = sorted(held + provided, key=lambda d: d["dose_number"])
            storage.put_doses(
                to_code, mine.id, to_area.keys.dose_keys().seal_doses(mine.id, merged)
            )
    entry: dict[str, Any] = {
        "at": clock.now().isoformat(timespec="seconds"),
        "actor": actor,
        "from_area": from_code,
        "to_area": to_code,
        "from_person": found.id if found else None,
        "to_person": mine.id,
        "doses": len(provided),
        "outcome": "provided" if found else "no_record",
    }
    entry["id"] = storage.add_transfer(entry)
    # who asked, for whom (A's row ID on A's side, B's on B's side), what came of it
    vrs.log(
        f"{actor}@{to_code}",
        from_code,
        "transfer.provide",
        f"transfer {entry['id']} person {found.id} to {to_code}"
        if found
        else f"transfer {entry['id']} to {to_code}",
        entry["outcome"],
    )
    vrs.log(
        actor,
        to_code,
        "transfer.receive",
        f"transfer {entry['id']} person {mine.id} from {from_code}",
        entry["outcome"],
    )
    return entry, provided
