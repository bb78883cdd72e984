"""Issuance: the signed certificates of one eligible person, their IDs recorded (M19).

Each copy gets its own certificate ID (the municipality code and ten random
digits) and its own SMART Health Card; an overseas certificate also gets an
ICAO VDS-NC seal whose uvci is that ID, and comes with a domestic copy. Every
signature is made before the write transaction, which only records the IDs and
their log entries (M15).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from certs import Dose, Person, build_bundle, sign, to_numeric
from certs.fhir import PERFORMER
from certs.printable import Kind
from certs.vds import seal_data, seal_json

from . import clock
from .eligibility import check_person, eligible, has_passport
from .errors import Code, VrsError
from .printing import printable

if TYPE_CHECKING:
    from .areas import Area


def issue(
    area: Area,
    my_number: str,
    kind: str,
    copies: int,
    actor: str | None = None,
    *,
    session_id: str,
) -> list[dict[str, Any]]:
    """Signed certificates, their IDs recorded (M19) and, for ``actor``, logged (M15).

    The signing (CPU) happens before the write transaction; the
    transaction only records the IDs and log entries, after checking that
    the person is still there and still eligible.

    One issuance per ``session_id`` (the issuance center's session): the
    transaction records it with the certificate IDs, and a session ID already
    recorded refuses the whole issuance (``session_already_issued``), so that
    neither a retry nor the same call sent to two center workers issues twice.
    """
    row, person, doses = eligible(area, my_number)
    if kind == "overseas" and not has_passport(person):
        raise VrsError(
            Code.PASSPORT_MISSING,
            "an overseas certificate needs passport data registered at the municipal window",
        )
    kinds: list[Kind] = ["overseas", "domestic"] if kind == "overseas" else ["domestic"]
    holder = _holder(person)
    shc_doses = [
        Dose(d["dose_number"], date.fromisoformat(d["dose_date"]), d["product"], d["lot_number"])
        for d in doses
    ]
    now = clock.now()
    out = []
    # every signature (SHC and seal) before the transaction: if one fails, nothing
    # is recorded and nothing returned
    for k in kinds:
        for _ in range(copies):
            cid = area.code + "".join(secrets.choice("0123456789") for _ in range(10))
            overseas = k == "overseas"
            bundle = build_bundle(
                holder, shc_doses, overseas=overseas, certificate_id=cid if overseas else None
            )
            jws = sign(area.vrs.issuer, area.vrs.iss, bundle, nbf=int(now.timestamp()))
            seal = _seal(area, cid, holder, shc_doses) if overseas else None
            page = printable(
                area.municipality,
                k,
                cid,
                now.date(),
                person,
                shc_doses,
                to_numeric(jws),
                seal_json(seal) if seal is not None else None,
            )
            out.append(_certificate(k, cid, now, jws, seal, page.to_json()))
    with area.storage.transaction():
        at = now.isoformat(timespec="seconds")
        # the database refuses a second row for the session (its primary key): atomic whichever
        # worker of VRS, or of the center, got here first
        if not area.storage.add_issuance(
            session_id, area.code, [c["certificate_id"] for c in out], at
        ):
            raise VrsError(
                Code.SESSION_ALREADY_ISSUED,
                "this issuance center session has had its issuance already; start a new one",
            )
        # erased, moved out or deceased since it was read: nothing recorded, nothing issued
        check_person(area.storage.get_person(area.code, row.id))
        for cert in out:
            cid = cert["certificate_id"]
            area.storage.add_certificate(cid, row.id, area.code, cert["type"], at)
            if actor is not None:  # no certificate recorded without its log entry
                area.vrs.log(actor, area.code, "certificate.issue", cid)
    return out


def _holder(person: dict[str, Any]) -> Person:
    """The SHC's holder: the register's name split at its full-width space, the passport's."""
    family, _, given = person["name"].partition("\u3000")
    romaji = person.get("romanized_name") or ""
    return Person(
        family_name=family,
        given_name=given or family,
        birth_date=date.fromisoformat(person["birth_date"]),
        romanized_family=romaji.split(" ")[0] if romaji else None,
        romanized_given=romaji.partition(" ")[2] or None if romaji else None,
        nationality=person.get("nationality") or None,
        passport_number=person.get("passport_number") or None,
    )


def _seal(area: Area, cid: str, holder: Person, doses: list[Dose]) -> dict[str, Any]:
    """The overseas certificate's ICAO VDS-NC seal; its uvci is the certificate ID."""
    assert holder.romanized_family and holder.passport_number  # has_passport checked it
    data = seal_data(
        uvci=cid,
        family=holder.romanized_family,
        given=holder.romanized_given,
        birth_date=holder.birth_date,
        passport_number=holder.passport_number,
        doses=doses,
        centre=PERFORMER,
    )
    return area.vrs.seal_signer.sign(data)


def _certificate(
    kind: Kind,
    cid: str,
    now: datetime,
    jws: str,
    seal: dict[str, Any] | None,
    page: dict[str, Any],
) -> dict[str, Any]:
    """One certificate as VRS answers it (``CERTIFICATE`` in openapi.py)."""
    return {
        "type": kind,
        "certificate_id": cid,
        "issue_date": now.date().isoformat(),
        "jws": jws,
        "seal": seal,
        "printable": page,
    }
