"""A synthetic holder and their doses, for `kiosk-sim cert sample` and tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from .fhir import PERFORMER, Dose, Person
from .printable import Printable
from .vds import SealSigner, seal_data

ISS = "https://vrs.localhost/issuer"


def person(overseas: bool = False) -> Person:
    return Person(
        family_name="見本",
        given_name="花子",
        birth_date=date(1980, 4, 1),
        romanized_family="MIHON" if overseas else None,
        romanized_given="HANAKO" if overseas else None,
        nationality="JPN" if overseas else None,
        passport_number="TZ0000000" if overseas else None,
    )


def doses(n: int = 3) -> list[Dose]:
    plan = [
        (date(2021, 6, 1), "pfizer", "FA5765"),
        (date(2021, 6, 22), "pfizer", "FA7338"),
        (date(2022, 1, 15), "moderna", "3005236"),
        (date(2022, 7, 20), "moderna", "000152A"),
        (date(2022, 12, 5), "pfizer", "GK3281"),
    ]
    return [Dose(i + 1, d, product, lot) for i, (d, product, lot) in enumerate(plan[:n])]


def printable(
    qr_value: str,
    certificate_id: str,
    issue_date: date,
    overseas: bool = False,
    n: int = 3,
    seal_value: str | None = None,
) -> Printable:
    p = person(overseas)
    return Printable(
        certificate_type="overseas" if overseas else "domestic",
        certificate_id=certificate_id,
        issue_date=issue_date,
        name=f"{p.family_name}　{p.given_name}",
        birth_date=p.birth_date,
        doses=tuple(doses(n)),
        municipality_ja="新居浜市",
        municipality_en="Niihama City",
        mayor_ja="新居浜市長",
        mayor_en="Mayor of Niihama City",
        qr_value=qr_value,
        romanized_name=f"{p.romanized_family} {p.romanized_given}" if overseas else None,
        nationality=p.nationality,
        passport_number=p.passport_number,
        seal_value=seal_value,
    )


def seal_payload(certificate_id: str, n: int = 3) -> dict[str, Any]:
    """The ``data`` of the overseas sample's ICAO VDS-NC seal (unsigned), with ``n`` doses."""
    p = person(overseas=True)
    assert p.romanized_family and p.passport_number
    return seal_data(
        uvci=certificate_id,
        family=p.romanized_family,
        given=p.romanized_given,
        birth_date=p.birth_date,
        passport_number=p.passport_number,
        doses=doses(n),
        centre=PERFORMER,
    )


def seal(certificate_id: str, signer: SealSigner, n: int = 3) -> dict[str, Any]:
    """The overseas sample's ICAO VDS-NC seal, signed by ``signer``."""
    return signer.sign(seal_payload(certificate_id, n))
