"""The FHIR bundle of a vaccination certificate, shaped like Japan's real ones.

QR rules of the SMART Health Cards spec: ``resource:N`` full URLs and
references; no ``Resource.id``, ``meta``, ``text``, ``CodeableConcept.text`` or
``Coding.display``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .errors import CertError, Code

CVX = "http://hl7.org/fhir/sid/cvx"
PERFORMER = "MHLW_Gov_of_JAPAN"  # what Japan's certificates named as performer
# Bundle.identifier of an overseas certificate: its ID, the VDS-NC seal's uvci beside it
CERTIFICATE_ID_SYSTEM = "urn:kiosk-sim:certificate-id"


@dataclass(frozen=True)
class Vaccine:
    cvx: str
    name_ja: str
    name_en: str
    manufacturer_ja: str
    manufacturer_en: str


# The one table of products given in Japan (CVX: 207 is confirmed on Japanese
# samples; the others follow the CDC's CVX list).
VACCINES: dict[str, Vaccine] = {
    "moderna": Vaccine("207", "スパイクバックス筋注", "Spikevax", "モデルナ", "Moderna"),
    "pfizer": Vaccine("208", "コミナティ筋注", "Comirnaty", "ファイザー", "Pfizer-BioNTech"),
    "astrazeneca": Vaccine(
        "210", "バキスゼブリア筋注", "Vaxzevria", "アストラゼネカ", "AstraZeneca"
    ),
    "novavax": Vaccine(
        "211", "ヌバキソビッド筋注", "Nuvaxovid", "武田薬品工業", "Takeda (Novavax)"
    ),
    "janssen": Vaccine("212", "ジェコビデン筋注", "Jcovden", "ヤンセン", "Janssen"),
    "unspecified": Vaccine("213", "新型コロナワクチン", "COVID-19 vaccine", "不明", "unspecified"),
}


def vaccine(product: str) -> Vaccine:
    try:
        return VACCINES[product]
    except KeyError:
        raise CertError(Code.UNKNOWN_PRODUCT, f"unknown vaccine product {product!r}") from None


@dataclass(frozen=True)
class Person:
    """The holder. ``repr`` hides everything: it is personal data."""

    family_name: str = field(repr=False)  # kanji, as in the resident register
    given_name: str = field(repr=False)
    birth_date: date = field(repr=False)
    # overseas certificates only (旅券関係情報)
    romanized_family: str | None = field(default=None, repr=False)
    romanized_given: str | None = field(default=None, repr=False)
    nationality: str | None = field(default=None, repr=False)
    passport_number: str | None = field(default=None, repr=False)

    @property
    def has_passport_data(self) -> bool:
        return bool(self.romanized_family and self.nationality and self.passport_number)


@dataclass(frozen=True)
class Dose:
    number: int
    date: date
    product: str  # a key of VACCINES
    lot: str


def _name(family: str | None, given: str | None) -> dict[str, Any]:
    # some people have one name only: no empty "given" then
    return {"family": family, "given": [given]} if given else {"family": family}


def build_bundle(
    person: Person,
    doses: list[Dose],
    *,
    overseas: bool = False,
    certificate_id: str | None = None,
) -> dict[str, Any]:
    """The certificate's FHIR bundle; overseas certificates add the romanized name.

    ``certificate_id`` goes into ``Bundle.identifier``, so that a verifier can tell
    that the SHC and the ICAO seal printed beside it are one certificate.
    """
    if not doses:
        raise CertError(Code.BAD_INPUT, "a certificate lists at least one dose")
    if len({d.number for d in doses}) != len(doses):
        raise CertError(Code.BAD_INPUT, "two doses carry the same dose number")
    names = [{"use": "usual", **_name(person.family_name, person.given_name)}]
    if overseas:
        if not person.has_passport_data:
            raise CertError(Code.BAD_INPUT, "an overseas certificate needs the passport data")
        names.append(_name(person.romanized_family, person.romanized_given))
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "resource:0",
            "resource": {
                "resourceType": "Patient",
                "name": names,
                "birthDate": person.birth_date.isoformat(),
            },
        }
    ]
    for i, dose in enumerate(sorted(doses, key=lambda d: d.number), start=1):
        entries.append(
            {
                "fullUrl": f"resource:{i}",
                "resource": {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": {"coding": [{"system": CVX, "code": vaccine(dose.product).cvx}]},
                    "patient": {"reference": "resource:0"},
                    "occurrenceDateTime": dose.date.isoformat(),
                    "performer": [{"actor": {"display": PERFORMER}}],
                    "lotNumber": dose.lot,
                },
            }
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection"}
    if certificate_id is not None:
        bundle["identifier"] = {"system": CERTIFICATE_ID_SYSTEM, "value": certificate_id}
    return {**bundle, "entry": entries}
