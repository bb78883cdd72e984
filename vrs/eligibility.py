"""Who may get a certificate at a convenience store, and which kinds.

A person is eligible when their municipality offers convenience-store
issuance, they are registered there, neither moved out nor deceased, and at
least one dose is recorded; an overseas certificate also needs the passport
data registered at the municipal window. Each refusal is a ``VrsError`` with
its own code, which the kiosk turns into the resident's message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import Code, VrsError
from .storage import PersonRow

if TYPE_CHECKING:
    from .areas import Area

PASSPORT_FIELDS = ("romanized_name", "nationality", "passport_number")


def eligible(area: Area, my_number: str) -> tuple[PersonRow, dict[str, Any], list[dict[str, Any]]]:
    """The person's row, record and doses, or the reason they get no certificate here."""
    if not area.municipality.offers_convenience_store:
        raise VrsError(
            Code.SERVICE_NOT_OFFERED,
            "this municipality does not provide convenience-store issuance",
        )
    found = area.find(my_number)
    check_person(found[0] if found else None)
    assert found is not None
    row, person = found
    doses = area.doses(row.id)
    if not doses:
        raise VrsError(Code.NO_DOSES, "no vaccination is recorded in this municipality")
    return row, person, doses


def check_person(row: PersonRow | None) -> None:
    """Refuses a person who is not (or no longer) there to be issued for."""
    if row is None:
        raise VrsError(Code.NO_RECORD, "no vaccination record in this municipality")
    if row.deceased:
        raise VrsError(Code.DECEASED, "this record cannot be issued; ask at the municipal window")
    if row.moved_out:
        raise VrsError(
            Code.MOVED_OUT,
            "the holder moved out of this municipality; ask at the municipal window",
        )


def eligibility_of(area: Area, my_number: str) -> dict[str, Any]:
    """What the kiosk may offer: the kinds of certificate and how many doses."""
    _row, person, doses = eligible(area, my_number)
    return {"domestic": True, "overseas": has_passport(person), "doses": len(doses)}


def has_passport(person: dict[str, Any]) -> bool:
    return all(person.get(f) for f in PASSPORT_FIELDS)
