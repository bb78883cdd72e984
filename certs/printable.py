"""The printable certificate: what one paper page shows, and its JSON on the wire.

VRS fills a ``Printable`` at issuance and sends ``to_json()``; the center
relays it untouched; the kiosk reads it back with ``Printable.from_json`` and
the renderer (render.py) lays it out. ``JSON_SCHEMA`` is the same shape for the
OpenAPI descriptions of VRS and the center, and ``ISSUED_JSON_SCHEMA`` the
certificate it comes in (its SHC, its seal). ``from_json`` refuses anything else
with ``CertError(Code.BAD_PRINTABLE)``, naming the field and never its value
(personal data).

Frozen dataclasses with a hand-written check, not pydantic models: the HTTP APIs'
models are pydantic (``serving.api``), but certs does not import it. Fifteen fields
are checked in a few lines, and what certs signs, prints and verifies (also from
the ``kiosk-sim cert`` command) needs no model library to load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, NoReturn

from .errors import CertError, Code
from .fhir import Dose

Kind = Literal["domestic", "overseas"]
KINDS: tuple[Kind, ...] = ("domestic", "overseas")
# printed only on an overseas certificate; null on a domestic one
OVERSEAS_FIELDS = ("romanized_name", "nationality", "passport_number", "seal_value")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMERIC = re.compile(r"shc:/[0-9]+")


@dataclass(frozen=True)
class Printable:
    """What the paper certificate shows. ``repr`` hides it: it is personal data."""

    certificate_type: Kind
    certificate_id: str = field(repr=False)
    issue_date: date = field(repr=False)
    name: str = field(repr=False)
    birth_date: date = field(repr=False)
    doses: tuple[Dose, ...] = field(repr=False)
    municipality_ja: str
    municipality_en: str
    mayor_ja: str  # the issuer as printed, e.g. 新居浜市長
    mayor_en: str  # e.g. Mayor of Niihama City
    qr_value: str = field(repr=False)  # the SMART Health Card's shc:/ numeric value
    romanized_name: str | None = field(default=None, repr=False)
    nationality: str | None = field(default=None, repr=False)
    passport_number: str | None = field(default=None, repr=False)
    seal_value: str | None = field(default=None, repr=False)  # overseas: the ICAO seal's JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "certificate_type": self.certificate_type,
            "certificate_id": self.certificate_id,
            "issue_date": self.issue_date.isoformat(),
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "doses": [
                {"number": d.number, "date": d.date.isoformat(), "product": d.product, "lot": d.lot}
                for d in self.doses
            ],
            "municipality_ja": self.municipality_ja,
            "municipality_en": self.municipality_en,
            "mayor_ja": self.mayor_ja,
            "mayor_en": self.mayor_en,
            "qr_value": self.qr_value,
            "romanized_name": self.romanized_name,
            "nationality": self.nationality,
            "passport_number": self.passport_number,
            "seal_value": self.seal_value,
        }

    @classmethod
    def from_json(cls, data: object) -> Printable:
        """The JSON as ``to_json`` writes it (the overseas fields may be left out when null)."""
        d = _fields(data, _PROPERTIES, "")
        kind = _text(d, "certificate_type")
        if kind not in KINDS:
            _refuse("certificate_type is neither domestic nor overseas")
        overseas = {f: _optional_text(d, f) for f in OVERSEAS_FIELDS}
        if kind == "overseas" and not all(overseas.values()):
            _refuse(f"an overseas certificate needs every one of {', '.join(OVERSEAS_FIELDS)}")
        if kind == "domestic" and any(v is not None for v in overseas.values()):
            _refuse(f"a domestic certificate carries none of {', '.join(OVERSEAS_FIELDS)}")
        doses = d.get("doses")
        if not isinstance(doses, list) or not doses:
            _refuse("doses is missing or not a list of at least one dose")
        return cls(
            certificate_type=kind,
            certificate_id=_text(d, "certificate_id"),
            issue_date=_date(d, "issue_date"),
            name=_text(d, "name"),
            birth_date=_date(d, "birth_date"),
            doses=tuple(_dose(x, f"doses[{i}].") for i, x in enumerate(doses)),
            municipality_ja=_text(d, "municipality_ja"),
            municipality_en=_text(d, "municipality_en"),
            mayor_ja=_text(d, "mayor_ja"),
            mayor_en=_text(d, "mayor_en"),
            qr_value=_text(d, "qr_value", _NUMERIC, "an shc:/ numeric value"),
            **overseas,
        )


printable_from_json = Printable.from_json  # the name the kiosk imports: the same parser


_STRING = {"type": "string", "minLength": 1}
_NULLABLE = {"type": "string", "minLength": 1, "nullable": True}
_DATE_SCHEMA = {"type": "string", "pattern": f"^{_DATE.pattern}$"}
_DOSE_PROPERTIES = {
    "number": {"type": "integer", "minimum": 1},
    "date": _DATE_SCHEMA,
    "product": _STRING,
    "lot": {"type": "string"},
}
_PROPERTIES: dict[str, dict[str, Any]] = {
    "certificate_type": {"type": "string", "enum": list(KINDS)},
    "certificate_id": _STRING,
    "issue_date": _DATE_SCHEMA,
    "name": _STRING,
    "birth_date": _DATE_SCHEMA,
    "doses": {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": list(_DOSE_PROPERTIES),
            "properties": _DOSE_PROPERTIES,
        },
    },
    "municipality_ja": _STRING,
    "municipality_en": _STRING,
    "mayor_ja": _STRING,
    "mayor_en": _STRING,
    "qr_value": {"type": "string", "pattern": f"^{_NUMERIC.pattern}$"},
    **{f: _NULLABLE for f in OVERSEAS_FIELDS},
}
# the wire shape, for the OpenAPI 3.0 descriptions (``nullable``) of VRS and the center
JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [f for f in _PROPERTIES if f not in OVERSEAS_FIELDS],
    "properties": _PROPERTIES,
}
# one certificate as VRS answers an issuance and the center relays it: its codes and its page
ISSUED_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "certificate_id", "issue_date", "jws", "seal", "printable"],
    "properties": {
        "type": {"type": "string", "enum": list(KINDS)},
        "certificate_id": _STRING,
        "issue_date": _DATE_SCHEMA,
        "jws": _STRING,  # the SMART Health Card (jws.py)
        # overseas: the ICAO VDS-NC seal (vds.py); domestic: null
        "seal": {"type": "object", "nullable": True, "required": ["data", "sig"]},
        "printable": JSON_SCHEMA,
    },
}


def _refuse(reason: str) -> NoReturn:
    raise CertError(Code.BAD_PRINTABLE, f"the printable certificate: {reason}")


def _fields(data: object, known: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` as an object holding no field but ``known`` ones."""
    if not isinstance(data, dict):
        _refuse(f"{where or 'it'} is not a JSON object")
    if not set(data) <= set(known):  # the unknown names are not echoed: they are not ours
        _refuse(f"{where or 'it'} has fields the model does not know")
    return data


def _text(
    d: dict[str, Any],
    name: str,
    shape: re.Pattern[str] | None = None,
    said: str = "",
    where: str = "",
    empty: bool = False,
) -> str:
    value = d.get(name)
    if not isinstance(value, str) or not (value or empty):
        _refuse(f"{where}{name} is missing or not a {'' if empty else 'non-empty '}string")
    if shape is not None and not shape.fullmatch(value):
        _refuse(f"{where}{name} is not {said}")
    return value


def _optional_text(d: dict[str, Any], name: str) -> str | None:
    return None if d.get(name) is None else _text(d, name)


def _date(d: dict[str, Any], name: str, where: str = "") -> date:
    text = _text(d, name, _DATE, "YYYY-MM-DD", where)
    try:
        return date.fromisoformat(text)
    except ValueError:
        _refuse(f"{where}{name} is not a calendar date")


def _dose(data: object, where: str) -> Dose:
    d = _fields(data, _DOSE_PROPERTIES, where.rstrip("."))
    number = d.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        _refuse(f"{where}number is missing or not a whole number from 1")
    return Dose(
        number=number,
        date=_date(d, "date", where),
        product=_text(d, "product", where=where),
        lot=_text(d, "lot", where=where, empty=True),
    )
