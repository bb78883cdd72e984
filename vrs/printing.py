"""What a certificate's page shows, filled from a person's record for ``certs``' model.

VRS decides what is printed (the person's facts, the doses, the issuing
mayor); ``certs.Printable`` owns the shape, its JSON on the wire and the
layout. A domestic page carries no passport data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from certs import Dose, Printable
from certs.printable import Kind

from .municipalities import Municipality


def printable(
    municipality: Municipality,
    kind: Kind,
    certificate_id: str,
    issued: date,
    person: dict[str, Any],
    doses: list[Dose],
    qr_value: str,
    seal_value: str | None = None,
) -> Printable:
    """The page of one certificate; ``qr_value`` is its SHC's ``shc:/`` value."""
    overseas = kind == "overseas"
    return Printable(
        certificate_type=kind,
        certificate_id=certificate_id,
        issue_date=issued,
        name=person["name"],
        birth_date=date.fromisoformat(person["birth_date"]),
        doses=tuple(doses),
        municipality_ja=municipality.name_ja,
        municipality_en=municipality.name_en,
        mayor_ja=municipality.mayor_ja,
        mayor_en=municipality.mayor_en,
        qr_value=qr_value,
        romanized_name=person.get("romanized_name") if overseas else None,
        nationality=person.get("nationality") if overseas else None,
        passport_number=person.get("passport_number") if overseas else None,
        seal_value=seal_value if overseas else None,
    )
