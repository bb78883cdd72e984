"""`cert verify`'s judgement: one verdict per code found, and checks between codes of one page.

A verdict is valid, invalid (with every reason) or unverifiable: a code whose trust
list was not given (``--jwks`` for SMART Health Cards, ``--csca`` for ICAO seals) is
read and shown, never called valid. The overseas page carries both codes of one
certificate: the seal's UVCI must be the SHC's certificate ID (``Bundle.identifier``)
and both must give the same birth date, else a page could pair one person's seal with
another's card.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography import x509

from . import clock
from .errors import Code, error_json
from .fhir import VACCINES
from .inputs import Found, Kind
from .vds import VdsCode, VdsError, parse_seal, verify_seal
from .verify import KeySets, Verification, verify

KIND_NAMES = {Kind.SHC: "SMART Health Card", Kind.SEAL: "ICAO seal"}


@dataclass
class Trust:
    keys: KeySets | None = None  # from --jwks; None: no SHC can be verified
    csca: list[x509.Certificate] | None = None  # from --csca; None: no seal can be verified


class Status(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True)
class Reason:
    code: str  # a certs Code or a certs.vds VdsCode value
    message: str

    def to_json(self) -> dict[str, str]:
        return error_json(self.code, self.message)


@dataclass
class Verdict:
    found: Found
    problems: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    unverified: Reason | None = None  # why nothing was checked against a trust list
    lines: list[str] = field(default_factory=list)  # the code's content, for people
    certificate_id: str | None = None  # SHC: Bundle.identifier; seal: the UVCI
    birth_date: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # more for --json

    @property
    def status(self) -> Status:
        if self.problems:
            return Status.INVALID
        return Status.UNVERIFIABLE if self.unverified else Status.VALID

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.found.kind.value,
            "source": self.found.source,
            "status": self.status.value,
            "valid": self.status is Status.VALID,
            "problems": [p.to_json() for p in self.problems],
            "warnings": [p.to_json() for p in self.warnings],
            "unverifiable": self.unverified.to_json() if self.unverified else None,
            "certificate_id": self.certificate_id,
            "birth_date": self.birth_date,
            **self.detail,
        }


def judge(found: list[Found], trust: Trust) -> list[Verdict]:
    verdicts = [
        judge_shc(f, trust.keys) if f.kind is Kind.SHC else judge_seal(f, trust.csca) for f in found
    ]
    cross_check(verdicts)
    return verdicts


def judge_shc(found: Found, keys: KeySets | None) -> Verdict:
    result = verify(found.value, keys if keys is not None else KeySets())
    out = Verdict(found)
    out.problems = [
        Reason(p.code.value, p.message)
        for p in result.problems
        if keys is not None or p.code is not Code.UNKNOWN_KEY  # no key was given to know
    ]
    out.warnings = [Reason(p.code.value, p.message) for p in result.warnings]
    if keys is None:
        out.unverified = Reason(
            Code.NO_TRUST_LIST.value, "no issuer key set given (--jwks): signature not checked"
        )
    bundle = _obj(
        _obj(_obj(_obj(result.payload).get("vc")).get("credentialSubject")).get("fhirBundle")
    )
    out.certificate_id = _str(_obj(bundle.get("identifier")).get("value"))
    for entry in _list(bundle.get("entry")):
        res = _obj(_obj(entry).get("resource"))
        if res.get("resourceType") == "Patient":
            out.birth_date = _str(res.get("birthDate"))
            break
    if result.payload is not None:
        out.lines = summarize(result)
        if out.certificate_id:
            out.lines.append(f"cert ID: {out.certificate_id}")
    out.detail = {
        "key_source": result.key_source,
        "header": result.header,
        "payload": result.payload,
    }
    return out


def judge_seal(found: Found, csca: list[x509.Certificate] | None) -> Verdict:
    out = Verdict(found)
    try:
        seal = parse_seal(found.value)
        check = verify_seal(seal, csca or [])
    except VdsError as exc:  # not a well-formed seal: nothing in it is worth showing
        out.problems.append(Reason(exc.code.value, exc.message))
        return out
    msg = seal["data"]["msg"]  # parse_seal checked the schema
    out.certificate_id, out.birth_date = check.uvci, msg["pid"]["dob"]
    out.lines = [
        f"UVCI:    {check.uvci}",
        f"state:   {seal['data']['hdr']['is']}",
        f"name:    {msg['pid']['n']}",
        f"born:    {out.birth_date}",
    ]
    for event in msg["ve"]:
        out.lines += [
            f"dose:    {d['dvc']}  {event.get('nam') or event['des']}  lot {d.get('lot', '-')}"
            for d in event["vd"]
        ]
    if check.signer is not None:  # parse_seal has read its name: it prints
        out.lines.append(f"signer:  {check.signer.subject.rfc4514_string()}")
    out.detail = {"seal": seal}
    if csca is None:
        out.unverified = Reason(
            Code.NO_TRUST_LIST.value, "no CSCA trust list given (--csca): signature not checked"
        )
        if check.code is VdsCode.BAD_SIGNATURE:  # checked with the seal's own certificate
            out.problems.append(Reason(check.code.value, check.message))
    elif check.code is not None:
        out.problems.append(Reason(check.code.value, check.message))
    return out


def cross_check(verdicts: list[Verdict]) -> None:
    """Seals and SHCs printed on one page name one certificate and one birth date."""
    pages: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        pages[v.found.page].append(v)
    for group in pages.values():
        seals = [v for v in group if v.found.kind is Kind.SEAL and v.certificate_id]
        cards = [v for v in group if v.found.kind is Kind.SHC and v.detail.get("payload")]
        for seal in seals:
            for card in cards:
                if card.certificate_id is None:
                    why = Reason(
                        Code.ID_MISMATCH.value,
                        "the SMART Health Card names no certificate ID to match the seal's UVCI",
                    )
                elif card.certificate_id != seal.certificate_id:
                    why = Reason(
                        Code.ID_MISMATCH.value,
                        "the seal's UVCI is not the SMART Health Card's certificate ID"
                        " on the same page",
                    )
                elif card.birth_date != seal.birth_date:
                    why = Reason(
                        Code.BIRTH_DATE_MISMATCH.value,
                        "the seal and the SMART Health Card on the same page give other birth dates",
                    )
                else:
                    continue
                for v in (seal, card):
                    if why not in v.problems:
                        v.problems.append(why)


# the codes are the sender's: any member may hold any JSON type
def _obj(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _str(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return "?"
    try:
        when = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):  # a NumericDate past the years 1–9999
        return "?"
    return when.astimezone(clock.JST).strftime("%Y-%m-%d %H:%M JST")


def summarize(result: Verification) -> list[str]:
    """The card's content in a few lines a person reads (the whole payload is in --json)."""
    payload = result.payload or {}
    kid = (result.header or {}).get("kid")
    lines = [f"issuer:  {payload.get('iss')}  (key {kid}, from {result.key_source or '-'})"]
    lines.append(f"issued:  {_when(payload.get('nbf'))}")
    if "exp" in payload:
        lines.append(f"expires: {_when(payload.get('exp'))}")
    subject = _obj(_obj(payload.get("vc")).get("credentialSubject"))
    entries = _obj(subject.get("fhirBundle")).get("entry")
    by_cvx = {v.cvx: f"{v.name_en} ({v.manufacturer_en})" for v in VACCINES.values()}
    others: dict[str, int] = {}
    for entry in _list(entries):
        res = _obj(_obj(entry).get("resource"))
        kind = res.get("resourceType")
        if kind == "Patient":
            names = [
                " ".join(str(x) for x in [n.get("family", ""), *n.get("given", [])]).strip()
                for n in _list(res.get("name"))
                if isinstance(n, dict) and isinstance(n.get("given", []), list)
            ]
            lines.append(f"name:    {' / '.join(names)}")
            lines.append(f"born:    {res.get('birthDate')}")
        elif kind == "Immunization":
            codes = [_obj(c).get("code") for c in _list(_obj(res.get("vaccineCode")).get("coding"))]
            product = ", ".join(by_cvx.get(str(c), f"CVX {c}") for c in codes)
            lines.append(
                f"dose:    {res.get('occurrenceDateTime')}  {product}  lot {res.get('lotNumber', '-')}"
            )
        else:
            others[str(kind)] = others.get(str(kind), 0) + 1
    lines += [f"also:    {n} {kind}" for kind, n in others.items()]
    return lines
