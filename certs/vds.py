"""The ICAO VDS-NC seal (proof of vaccination ``icao.vacc``) of the overseas certificate.

A seal is one JSON object, ``{"data": {"hdr", "msg"}, "sig": {"alg", "cer", "sigvl"}}``
(ICAO, "Visible Digital Seals for non-constrained environments" and its health-proof
guidelines). ``sigvl`` is ECDSA P-256 / SHA-256, raw ``r‖s``, over the RFC 8785 (JCS)
canonical form of ``data``; ``cer`` is the barcode signer's X.509 certificate (DER),
issued by a CSCA that verifiers hold in a trust list. Both are base64url, written
with padding (certs/README.md says why) and read with or without it.

Building: ``seal_data(...)`` → ``sign_seal(data, key, cert)`` (or a ``SealSigner``).
Reading: ``parse_seal(raw)`` (strict: size, shape, types, ``ES256`` only) →
``verify_seal(seal, load_csca(path))``. Every refusal is a ``VdsError`` with a
``VdsCode``; no message names the holder.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, namedtype, univ

from . import clock
from .errors import CodedError

__all__ = [
    "DOCUMENT_TYPE_LIST",
    "EKU_VDS_NC",
    "SealCheck",
    "SealSigner",
    "VdsCode",
    "VdsError",
    "document_type_list",
    "encode_document_type_list",
    "load_csca",
    "parse_seal",
    "seal_data",
    "seal_json",
    "sign_seal",
    "verify_seal",
]

TYPE = "icao.vacc"
VERSION = 1
ALG = "ES256"
# id-icao-mrtd-security-extensions-documentTypeList and the VDS-NC barcode signer EKU
DOCUMENT_TYPE_LIST = x509.ObjectIdentifier("2.23.136.1.1.6.2")
EKU_VDS_NC = x509.ObjectIdentifier("2.23.136.1.1.14.2")
DOC_TYPE = "NV"  # the document type of a proof of vaccination (NT: of a test)
# a version 40 QR holds 2,953 bytes; a file may be pretty-printed, so allow some more
MAX_SEAL = 16 * 1024
MAX_CERT = 4 * 1024
MAX_EVENTS = 16  # vaccination events, and doses in each: far beyond any real record


class VdsCode(StrEnum):
    MALFORMED = "malformed"  # not UTF-8 JSON, not an object, or duplicate keys
    TOO_LARGE = "too_large"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"  # a field of the wrong type or form, or one the schema lacks
    WRONG_TYPE = "wrong_type"  # not icao.vacc version 1
    BAD_ALG = "bad_alg"
    BAD_CERTIFICATE = "bad_certificate"  # cer is not an X.509 certificate with a P-256 key
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED = "untrusted"  # no CSCA of the trust list issued the signer
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_USAGE = "wrong_usage"  # no VDS-NC extended key usage
    WRONG_DOCUMENT_TYPE = "wrong_document_type"  # documentTypeList lacks NV
    BAD_TRUST_LIST = "bad_trust_list"


class VdsError(CodedError[VdsCode]):
    """The one error of this module: ``code`` for machines, ``message`` for people."""


# --- building ---------------------------------------------------------------------------------

# WHO ICD-11 vaccine type of each product given in Japan (certs/README.md: why the type)
ICD11 = {
    "moderna": "XM0GQ8",  # COVID-19 vaccine, RNA based
    "pfizer": "XM0GQ8",
    "astrazeneca": "XM9QW8",  # non-replicating viral vector
    "janssen": "XM9QW8",
    "novavax": "XM5JC5",  # virus protein subunit
    "unspecified": "XM68M6",  # COVID-19 vaccines
}
COVID19 = "RA01.0"  # ICD-11: COVID-19, virus identified
NAME_MAX = 39  # Doc 9303-3: the name as on the passport, truncated to 39


def mrz_name(family: str, given: str | None) -> str:
    """The name as the passport's MRZ holds it, ``<`` as spaces: ``FAMILY  GIVEN``."""
    name = f"{family.upper()}  {given.upper()}" if given else family.upper()
    return name[:NAME_MAX].rstrip()


def seal_data(
    *,
    uvci: str,
    family: str,
    given: str | None,
    birth_date: date,
    passport_number: str,
    doses: Iterable[Any],
    centre: str,
    country: str = "JPN",
) -> dict[str, Any]:
    """The seal's ``data``: one vaccination event per product, its doses in order.

    ``doses`` are ``certs.Dose`` (number, date, product, lot).
    """
    from .fhir import vaccine  # the product table (and its error for an unknown one)

    events: dict[str, dict[str, Any]] = {}
    for d in sorted(doses, key=lambda d: d.number):
        v = vaccine(d.product)
        event = events.setdefault(
            d.product, {"des": ICD11[d.product], "nam": v.name_en, "dis": COVID19, "vd": []}
        )
        event["vd"].append(
            {
                "dvc": d.date.isoformat(),
                "seq": d.number,
                "ctr": country,
                "adm": centre,
                "lot": d.lot,
            }
        )
    if not events:
        raise VdsError(VdsCode.MISSING_FIELD, "a seal lists at least one dose")
    data = {
        "hdr": {"t": TYPE, "v": VERSION, "is": country},
        "msg": {
            "uvci": uvci,
            "pid": {
                "n": mrz_name(family, given),
                "dob": birth_date.isoformat(),
                "i": passport_number,
            },
            "ve": list(events.values()),
        },
    }
    _check_data(data)  # what we sign, we could read back
    return data


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")  # padded: see certs/README.md


_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _b64url_decode(text: str, what: str, code: VdsCode) -> bytes:
    if not _B64URL.fullmatch(text):
        raise VdsError(code, f"{what} is not base64url")
    bare = text.rstrip("=")
    if text != bare and len(text) % 4:
        raise VdsError(code, f"{what} has wrong padding")
    try:
        raw = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise VdsError(code, f"{what} is not base64url") from None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != bare:
        raise VdsError(code, f"{what} is not the canonical base64url of its bytes")
    return raw


def canonical(data: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS): the bytes the signature covers."""
    try:
        return rfc8785.dumps(data)
    except rfc8785.CanonicalizationError:
        raise VdsError(VdsCode.BAD_FIELD, "the seal's data cannot be canonicalized") from None


def sign_seal(
    data: dict[str, Any], key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> dict[str, Any]:
    """The seal: ``data`` and its ES256 signature with the signer's certificate."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise VdsError(VdsCode.BAD_ALG, "a seal is signed with a P-256 key (ES256)")
    r, s = decode_dss_signature(key.sign(canonical(data), ec.ECDSA(hashes.SHA256())))
    return {
        "data": data,
        "sig": {
            "alg": ALG,
            "cer": _b64url(cert.public_bytes(serialization.Encoding.DER)),
            "sigvl": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        },
    }


class SealSigner:
    """The barcode signer: its key and certificate, loaded once, and the CSCAs to publish."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        cert: x509.Certificate,
        csca: list[x509.Certificate] | None = None,
    ) -> None:
        public = cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or (
            public.public_numbers() != key.public_key().public_numbers()
        ):
            raise VdsError(VdsCode.BAD_CERTIFICATE, "the signer certificate is not of this key")
        self.key = key
        self.cert = cert
        self.csca = list(csca or [])

    def csca_pem(self) -> bytes:
        """The CSCA list a verifier needs (``/.well-known/csca.pem``), PEM."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.csca)

    @classmethod
    def load(cls, key_file: Path, cert_file: Path, csca_file: Path | None = None) -> SealSigner:
        try:
            key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
            cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        except (OSError, ValueError):
            raise VdsError(VdsCode.BAD_CERTIFICATE, "cannot read the barcode signer") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise VdsError(VdsCode.BAD_ALG, "the barcode signer key is not an EC key")
        return cls(key, cert, load_csca(csca_file) if csca_file else None)

    def sign(self, data: dict[str, Any]) -> dict[str, Any]:
        return sign_seal(data, self.key, self.cert)


def seal_json(seal: dict[str, Any]) -> str:
    """The seal as the QR holds it: compact JSON, UTF-8 as is (the QR is in byte mode)."""
    return json.dumps(seal, ensure_ascii=False, separators=(",", ":"))


# --- the signer certificate's documentTypeList ------------------------------------------------


class _DocTypes(univ.SetOf):  # type: ignore[misc]  # pyasn1 ships no types (Any)
    componentType = char.PrintableString()


class _DocumentTypeList(univ.Sequence):  # type: ignore[misc]  # pyasn1 ships no types (Any)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("docTypeList", _DocTypes()),
    )


def encode_document_type_list(types: Iterable[str]) -> bytes:
    """DER of ``DocumentTypeListSyntax ::= SEQUENCE {version 0, SET OF PrintableString}``."""
    value = _DocumentTypeList()
    value["version"] = 0
    for t in types:
        value["docTypeList"].append(t)
    der: bytes = der_encoder.encode(value)
    return der


def document_type_list(cert: x509.Certificate) -> list[str] | None:
    """The document types the signer may sign, or None without the extension."""
    try:
        ext = cert.extensions.get_extension_for_oid(DOCUMENT_TYPE_LIST).value
    except x509.ExtensionNotFound:
        return None
    raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
    try:
        value, rest = der_decoder.decode(raw, asn1Spec=_DocumentTypeList())
    except PyAsn1Error:
        return []
    return [] if rest else [str(t) for t in value["docTypeList"]]


# --- reading ----------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # two parsers could read different values: refuse
        raise ValueError("a key appears twice in one object")
    return out


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load(raw: bytes | str) -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise VdsError(VdsCode.MALFORMED, "the seal is not UTF-8 text") from None
    if not isinstance(raw, str):
        raise VdsError(VdsCode.MALFORMED, "a seal is JSON text")
    if len(raw) > MAX_SEAL:
        raise VdsError(VdsCode.TOO_LARGE, f"the seal is longer than {MAX_SEAL} characters")
    try:
        return json.loads(
            raw,
            object_pairs_hook=_no_duplicates,
            parse_float=_finite,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise VdsError(VdsCode.MALFORMED, "the seal's JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        reason = "duplicate keys" if "twice" in str(exc) else "not valid JSON"
        raise VdsError(VdsCode.MALFORMED, f"the seal is {reason}") from None


def _obj(value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VdsError(VdsCode.BAD_FIELD, f"{where} is not a JSON object")
    missing = sorted(required - value.keys())
    if missing:
        raise VdsError(VdsCode.MISSING_FIELD, f"{where} lacks {', '.join(missing)}")
    extra = sorted(value.keys() - required - optional)
    if extra:
        # the icao.vacc v1 schema is closed: a field we cannot show must not ride along signed
        raise VdsError(VdsCode.BAD_FIELD, f"{where} has a field the schema lacks: {extra[0]!r}")
    return value


def _str(obj: dict[str, Any], key: str, where: str, max_len: int, pattern: str = "") -> None:
    if key not in obj:
        return
    v = obj[key]
    if not isinstance(v, str) or not 1 <= len(v) <= max_len:
        raise VdsError(VdsCode.BAD_FIELD, f"{where}.{key} is not a string of 1 to {max_len}")
    if any(ord(c) < 0x20 for c in v) or (pattern and not re.fullmatch(pattern, v)):
        raise VdsError(VdsCode.BAD_FIELD, f"{where}.{key} is not of the expected form")


def _date(obj: dict[str, Any], key: str, where: str) -> None:
    _str(obj, key, where, 10, r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    if key in obj:
        try:
            date.fromisoformat(obj[key])
        except ValueError:
            raise VdsError(VdsCode.BAD_FIELD, f"{where}.{key} is not a calendar date") from None


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_EVENTS:
        raise VdsError(VdsCode.BAD_FIELD, f"{where} is not a list of 1 to {MAX_EVENTS}")
    return value


COUNTRY = r"[A-Z]{3}"


def _check_data(data: Any) -> None:
    """The icao.vacc v1 schema, field by field (lengths from the guidelines' schema)."""
    data = _obj(data, "data", {"hdr", "msg"}, set())
    hdr = _obj(data["hdr"], "hdr", {"t", "v", "is"}, set())
    if hdr["t"] != TYPE:
        raise VdsError(VdsCode.WRONG_TYPE, f"only {TYPE} seals are read")
    if type(hdr["v"]) is not int or hdr["v"] != VERSION:
        raise VdsError(VdsCode.WRONG_TYPE, f"only version {VERSION} of {TYPE} is read")
    _str(hdr, "is", "hdr", 3, COUNTRY)
    msg = _obj(data["msg"], "msg", {"uvci", "pid", "ve"}, set())
    # the schema's 12 is too short for Japan's 16-digit certificate IDs (certs/README.md)
    _str(msg, "uvci", "msg", 32, r"[0-9A-Za-z:/_.#-]+")
    pid = _obj(msg["pid"], "pid", {"n"}, {"dob", "sex", "i", "ai"})
    _str(pid, "n", "pid", NAME_MAX)
    _date(pid, "dob", "pid")
    _str(pid, "sex", "pid", 1, "[MFX]")
    _str(pid, "i", "pid", 11, r"[0-9A-Z<]+")
    _str(pid, "ai", "pid", 24)
    if "dob" not in pid and "i" not in pid:
        raise VdsError(VdsCode.MISSING_FIELD, "pid names neither a birth date nor a document")
    for i, event in enumerate(_list(msg["ve"], "msg.ve")):
        where = f"ve[{i}]"
        event = _obj(event, where, {"des", "nam", "vd"}, {"dis"})
        _str(event, "des", where, 6, "[0-9A-Z]+")
        _str(event, "nam", where, 64)
        _str(event, "dis", where, 6, r"[0-9A-Z.]+")
        for j, dose in enumerate(_list(event["vd"], f"{where}.vd")):
            w = f"{where}.vd[{j}]"
            dose = _obj(dose, w, {"dvc", "seq", "ctr", "lot"}, {"adm", "dvn"})
            _date(dose, "dvc", w)
            if type(dose["seq"]) is not int or not 1 <= dose["seq"] <= 99:
                raise VdsError(VdsCode.BAD_FIELD, f"{w}.seq is not a dose number from 1 to 99")
            _str(dose, "ctr", w, 3, COUNTRY)
            _str(dose, "adm", w, 20)
            _str(dose, "lot", w, 20)
            _date(dose, "dvn", w)


# cryptography parses a certificate's parts when they are first read: these are its refusals
_CERT_ERRORS = (
    ValueError,
    UnsupportedAlgorithm,  # a key of a type it does not know
    x509.InvalidVersion,
    TypeError,  # a name attribute of an odd ASN.1 type (a BIT STRING common name)
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


def _parsed(cert: x509.Certificate) -> Any:
    """Every part a verifier reads, parsed now (a lazy parse would fail later); the key."""
    _ = (cert.subject, cert.issuer, cert.extensions, cert.not_valid_before_utc)
    _ = cert.not_valid_after_utc
    return cert.public_key()


def _certificate(text: Any) -> x509.Certificate:
    if not isinstance(text, str) or len(text) > MAX_CERT * 4 // 3 + 4:
        raise VdsError(VdsCode.BAD_CERTIFICATE, "sig.cer is not a certificate of a usual size")
    der = _b64url_decode(text, "sig.cer", VdsCode.BAD_CERTIFICATE)
    try:
        cert = x509.load_der_x509_certificate(der)
        key = _parsed(cert)
    except _CERT_ERRORS:
        raise VdsError(VdsCode.BAD_CERTIFICATE, "sig.cer is not an X.509 certificate") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise VdsError(VdsCode.BAD_CERTIFICATE, "the signer's key is not a P-256 key")
    return cert


def _signature(text: Any) -> bytes:
    if not isinstance(text, str) or len(text) > 100:
        raise VdsError(VdsCode.BAD_SIGNATURE, "sig.sigvl is not an ES256 signature")
    raw = _b64url_decode(text, "sig.sigvl", VdsCode.BAD_SIGNATURE)
    if len(raw) != 64:
        raise VdsError(VdsCode.BAD_SIGNATURE, "sig.sigvl is not 64 bytes (r‖s of ES256)")
    return raw


def parse_seal(raw: bytes | str) -> dict[str, Any]:
    """The seal in ``raw`` (its JSON, as in the QR or a file), checked against the schema."""
    seal = _load(raw)
    if not isinstance(seal, dict):
        raise VdsError(VdsCode.MALFORMED, "a seal is a JSON object")
    seal = _obj(seal, "the seal", {"data", "sig"}, set())
    _check_data(seal["data"])
    sig = _obj(seal["sig"], "sig", {"alg", "cer", "sigvl"}, set())
    if sig["alg"] != ALG:
        raise VdsError(VdsCode.BAD_ALG, f"only {ALG} seals are read")
    _certificate(sig["cer"])
    _signature(sig["sigvl"])
    canonical(seal["data"])  # numbers JCS cannot write (2**53 and up) are refused here
    return seal


# --- verifying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealCheck:
    """The verdict on one seal: ``code`` is None when it is valid."""

    code: VdsCode | None
    message: str
    data: dict[str, Any] = field(repr=False)
    signer: x509.Certificate | None = field(default=None, repr=False)
    csca: x509.Certificate | None = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        return self.code is None

    @property
    def uvci(self) -> str:
        return str(self.data["msg"]["uvci"])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid, "message": self.message, "uvci": self.uvci}
        if self.code is not None:
            out["error"] = self.code.value
        if self.signer is not None:
            out["signer"] = self.signer.subject.rfc4514_string()
        if self.csca is not None:
            out["csca"] = self.csca.subject.rfc4514_string()
        return out


def _verify_es256(key: Any, message: bytes, sig: bytes) -> bool:
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _issuer_of(signer: x509.Certificate, trust: list[x509.Certificate]) -> x509.Certificate:
    for csca in trust:
        try:
            signer.verify_directly_issued_by(csca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return csca
    raise VdsError(VdsCode.UNTRUSTED, "no CSCA of the trust list issued the seal's signer")


def _in_validity(cert: x509.Certificate, at: datetime, who: str) -> None:
    if at < cert.not_valid_before_utc:
        raise VdsError(VdsCode.NOT_YET_VALID, f"the {who} certificate is not valid yet")
    if at > cert.not_valid_after_utc:
        raise VdsError(VdsCode.EXPIRED, f"the {who} certificate has expired")


def _usage(signer: x509.Certificate) -> None:
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or EKU_VDS_NC not in eku:
        raise VdsError(VdsCode.WRONG_USAGE, "the signer certificate is not for VDS-NC seals")
    if DOC_TYPE not in (document_type_list(signer) or []):
        raise VdsError(
            VdsCode.WRONG_DOCUMENT_TYPE, "the signer may not sign proofs of vaccination (NV)"
        )


def verify_seal(
    seal: dict[str, Any] | bytes | str,
    trust: list[x509.Certificate],
    *,
    at: datetime | None = None,
) -> SealCheck:
    """The seal checked against ``trust`` (CSCA certificates) at ``at`` (default now).

    Order: the signature over the canonical data with the seal's certificate, then
    that certificate's chain to a CSCA, its validity, its EKU and documentTypeList.
    A VDS-NC carries no signing time, so validity is judged at verification time.
    Malformed input raises ``VdsError``; a well-formed seal gets a ``SealCheck``.
    """
    if isinstance(seal, dict):
        try:
            seal = seal_json(seal)
        except (TypeError, ValueError):
            raise VdsError(VdsCode.MALFORMED, "the seal holds values JSON cannot write") from None
    seal = parse_seal(seal)
    data = seal["data"]
    signer = _certificate(seal["sig"]["cer"])
    sig = _signature(seal["sig"]["sigvl"])
    at = at or clock.now()
    csca = None
    try:
        if not _verify_es256(signer.public_key(), canonical(data), sig):
            raise VdsError(VdsCode.BAD_SIGNATURE, "the signature does not match the seal's data")
        csca = _issuer_of(signer, trust)
        _in_validity(csca, at, "CSCA")
        _in_validity(signer, at, "signer")
        _usage(signer)
    except VdsError as exc:
        return SealCheck(exc.code, exc.message, data, signer, csca)
    return SealCheck(None, "valid", data, signer, csca)


def load_csca(path: Path | str) -> list[x509.Certificate]:
    """The CSCA certificates in a PEM or DER file, or in every such file of a folder."""
    path = Path(path)
    try:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        out: list[x509.Certificate] = []
        for f in files:
            raw = f.read_bytes()
            if b"-----BEGIN CERTIFICATE-----" in raw:
                out += x509.load_pem_x509_certificates(raw)
            elif path.is_dir() and f.suffix.lower() not in (".der", ".cer", ".crt"):
                continue  # a folder may hold READMEs and CRLs beside the certificates
            else:
                out.append(x509.load_der_x509_certificate(raw))
        for c in out:
            _parsed(c)
    except OSError as exc:
        raise VdsError(VdsCode.BAD_TRUST_LIST, f"cannot read {path}: {exc.strerror}") from None
    except _CERT_ERRORS:
        raise VdsError(VdsCode.BAD_TRUST_LIST, f"{path} holds no readable certificate") from None
    if not out:
        raise VdsError(VdsCode.BAD_TRUST_LIST, f"no CSCA certificate found in {path}")
    for c in out:
        try:
            ca = c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if not ca:
            raise VdsError(VdsCode.BAD_TRUST_LIST, f"a certificate in {path} is not a CA")
    return out
