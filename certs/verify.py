"""Verifying a SMART Health Card against trusted key sets, offline.

Every check runs and every problem is reported, each with a stable code and a
reason: header, DEFLATE, signature, ``kid``, issuer, ``nbf``/``exp``, revocation.
Keys are never fetched over the network; the caller says which issuers it trusts.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import clock
from .errors import CertError, Code, error_json
from .jws import (
    b64url_decode,
    inflate,
    key_from_jwk,
    minify,
    parse_json,
    thumbprint,
    verify_es256,
)

CLOCK_SKEW = 60  # seconds of tolerance on nbf, for issuers whose clock runs ahead
HEALTH_CARD = "https://smarthealth.cards#health-card"


@dataclass
class TrustedKey:
    kid: str
    key: ec.EllipticCurvePublicKey
    source: str
    kid_is_thumbprint: bool = True
    issuers: frozenset[str] = frozenset()  # from the x5c leaf's SAN URIs; empty: not bound
    crl_version: int | None = None  # the key's crlVersion: the issuer revokes with this key
    crl_ctr: int | None = None
    crl_rids: set[str] | None = None  # None: no revocation list was given


def _x5c_issuers(
    jwk: dict[str, Any], key: ec.EllipticCurvePublicKey, source: str
) -> frozenset[str]:
    """The issuer URLs the key's certificate names; the leaf must hold the JWK's key."""
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0], validate=True))
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        leaf_key = leaf.public_key()  # a key type cryptography does not know: Unsupported…
    except (
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        binascii.Error,
        x509.ExtensionNotFound,
        UnsupportedAlgorithm,
    ):
        raise CertError(Code.BAD_KEY_SET, f"a key in {source} has an unreadable x5c") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf_key.public_bytes(*spki) != key.public_bytes(*spki):
        raise CertError(Code.BAD_KEY_SET, f"a key in {source} differs from its x5c certificate")
    return frozenset(u.rstrip("/") for u in uris)


@dataclass
class KeySets:
    keys: dict[str, TrustedKey] = field(default_factory=dict)

    def add_jwks(
        self, jwks: dict[str, Any], source: str, crls: dict[str, Any] | None = None
    ) -> None:
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise CertError(Code.BAD_KEY_SET, f"{source} is not a JWK set")
        added: dict[str, TrustedKey] = {}  # all or nothing: no half-read key set is trusted
        for jwk in jwks["keys"]:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                raise CertError(Code.BAD_KEY_SET, f"a key in {source} has no kid")
            if "d" in jwk:  # a published key set never holds a private key: someone erred
                raise CertError(Code.BAD_KEY_SET, f"{source} holds a private key; refusing it")
            key = key_from_jwk(jwk)
            trusted = TrustedKey(jwk["kid"], key, source)
            trusted.kid_is_thumbprint = jwk["kid"] == thumbprint(jwk)
            if "x5c" in jwk:
                trusted.issuers = _x5c_issuers(jwk, key, source)
            if isinstance(jwk.get("crlVersion"), int):
                trusted.crl_version = jwk["crlVersion"]
            crl = (crls or {}).get(jwk["kid"])
            if crl is not None:
                if (
                    not isinstance(crl, dict)
                    or crl.get("method") != "rid"
                    or not isinstance(crl.get("rids"), list)
                ):
                    raise CertError(Code.BAD_KEY_SET, f"a revocation list in {source} is malformed")
                trusted.crl_rids = {str(r) for r in crl["rids"]}
                trusted.crl_ctr = crl.get("ctr") if isinstance(crl.get("ctr"), int) else None
            added[trusted.kid] = trusted
        self.keys.update(added)

    def add_path(self, path: Path) -> None:
        """A key-set file, or an issuer folder laid out as served (``.well-known/…``)."""
        path = Path(path)
        try:
            if path.is_dir():
                wk = path / ".well-known"
                crls = {}
                for f in sorted((wk / "crl").glob("*.json")) if (wk / "crl").is_dir() else []:
                    crl = parse_json(f.read_bytes())
                    kid = crl.get("kid", f.stem) if isinstance(crl, dict) else None
                    if not isinstance(kid, str):  # skipping it would leave revocation unchecked
                        raise CertError(Code.BAD_KEY_SET, f"the revocation list {f} is malformed")
                    crls[kid] = crl
                self.add_jwks(parse_json((wk / "jwks.json").read_bytes()), str(path), crls)
            else:
                self.add_jwks(parse_json(path.read_bytes()), str(path))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not JSON"
            raise CertError(Code.BAD_KEY_SET, f"cannot read key set {path}: {reason}") from None


def file_credentials(data: bytes | str) -> list[str]:
    """The JWSs of a ``.smart-health-card`` file: ``{"verifiableCredential": [jws, …]}``."""
    try:
        doc = parse_json(data)
    except ValueError:
        raise CertError(Code.BAD_INPUT, "the file is not strict UTF-8 JSON") from None
    creds = doc.get("verifiableCredential") if isinstance(doc, dict) else None
    if not creds or not isinstance(creds, list) or not all(isinstance(c, str) for c in creds):
        raise CertError(
            Code.BAD_INPUT, "a .smart-health-card file holds a verifiableCredential list of JWSs"
        )
    return creds


@dataclass
class Problem:
    code: Code
    message: str

    def to_json(self) -> dict[str, str]:
        return error_json(self.code.value, self.message)


@dataclass
class Verification:
    """The verdict: ``valid`` only with a payload and no problem; warnings do not count."""

    header: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    key_source: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems and self.payload is not None

    def add(self, code: Code, message: str) -> None:
        self.problems.append(Problem(code, message))

    def warn(self, code: Code, message: str) -> None:
        self.warnings.append(Problem(code, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": [p.to_json() for p in self.problems],
            "warnings": [p.to_json() for p in self.warnings],
            "key_source": self.key_source,
            "header": self.header,
            "payload": self.payload,
        }


def verify(jws: str, trusted: KeySets) -> Verification:
    out = Verification()
    parts = jws.strip().split(".") if isinstance(jws, str) else []
    if len(parts) != 3:
        out.add(Code.MALFORMED_JWS, "a compact JWS has three dot-separated parts")
        return out
    try:
        header = parse_json(b64url_decode(parts[0]))
        body = b64url_decode(parts[1])
        sig = b64url_decode(parts[2])
    except ValueError:
        out.add(
            Code.MALFORMED_JWS, "a JWS part is not canonical base64url (or the header not JSON)"
        )
        return out
    if not isinstance(header, dict):
        out.add(Code.BAD_HEADER, "the JWS header is not a JSON object")
        return out
    out.header = header
    if header.get("alg") != "ES256":
        # reprs cut short: the header is the sender's, of any size
        out.add(Code.BAD_HEADER, f"alg must be ES256, not {header.get('alg')!r:.40}")
    if header.get("zip") != "DEF":
        out.add(Code.BAD_HEADER, "zip must be DEF (raw DEFLATE)")
    if "crit" in header:  # RFC 7515 4.1.11: extensions the verifier does not know void the JWS
        out.add(Code.BAD_HEADER, "the header names critical extensions (crit) not supported here")
    kid = header.get("kid")
    key = trusted.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        out.add(Code.UNKNOWN_KEY, f"the signing key {kid!r:.60} is in none of the trusted key sets")
    else:
        out.key_source = key.source
        if not key.kid_is_thumbprint:
            out.add(Code.BAD_KID, "the key's kid is not its RFC 7638 thumbprint")
        if len(sig) != 64:
            out.add(Code.BAD_SIGNATURE, "an ES256 signature is 64 bytes (r‖s), not DER")
        elif not verify_es256(key.key, f"{parts[0]}.{parts[1]}".encode("ascii"), sig):
            out.add(Code.BAD_SIGNATURE, "the signature does not verify with the issuer's key")
    try:
        raw = inflate(body)
        payload = parse_json(raw)
    except CertError as exc:
        out.add(exc.code, exc.message)
        return out
    except ValueError:
        out.add(Code.BAD_PAYLOAD, "the inflated payload is not strict UTF-8 JSON")
        return out
    if not isinstance(payload, dict):
        out.add(Code.BAD_PAYLOAD, "the payload is not a JSON object")
        return out
    out.payload = payload
    if raw != minify(payload) and raw != minify(payload, ascii_only=True):
        # Japan's real cards were not minified; verifiers accepted them
        out.warn(Code.NOT_MINIFIED, "the payload is not minified JSON (the spec asks for it)")
    _check_claims(payload, key, out)
    return out


def _check_claims(payload: dict[str, Any], key: TrustedKey | None, out: Verification) -> None:
    now = clock.now().timestamp()
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss.startswith("https://") or iss.endswith("/"):
        out.add(Code.BAD_PAYLOAD, "iss must be an https URL without a trailing slash")
    elif key is not None and key.issuers and iss not in key.issuers:
        out.add(Code.WRONG_ISSUER, "iss is not the issuer named in the signing key's certificate")
    nbf = payload.get("nbf")
    if not isinstance(nbf, int | float) or isinstance(nbf, bool):
        out.add(Code.BAD_PAYLOAD, "nbf (the issue time) is missing")
        nbf = None
    elif nbf > now + CLOCK_SKEW:
        out.add(Code.NOT_YET_VALID, "the card is not valid yet (nbf is in the future)")
    exp = payload.get("exp")
    if "exp" in payload and (not isinstance(exp, int | float) or isinstance(exp, bool)):
        out.add(Code.BAD_PAYLOAD, "exp (the expiry time) is not a number")
    elif exp is not None and exp <= now:
        out.add(Code.EXPIRED, "the card has expired (exp is in the past)")
    vc = payload.get("vc")
    types = vc.get("type") if isinstance(vc, dict) else None
    if not isinstance(vc, dict) or not isinstance(types, list) or HEALTH_CARD not in types:
        out.add(Code.BAD_PAYLOAD, f"vc.type must include {HEALTH_CARD}")
        return
    subject = vc.get("credentialSubject")
    if not isinstance(subject, dict) or not isinstance(subject.get("fhirBundle"), dict):
        out.add(Code.BAD_PAYLOAD, "vc.credentialSubject.fhirBundle is missing")
    rid = vc.get("rid")
    if "rid" in vc and not isinstance(rid, str):  # else a revoked rid could slip past the list
        out.add(Code.BAD_PAYLOAD, "vc.rid is not a string")
    elif key is not None:
        _check_revocation(rid, nbf, key, out)


def _check_revocation(rid: Any, nbf: float | None, key: TrustedKey, out: Verification) -> None:
    if key.crl_rids is None:
        if key.crl_version is not None and rid is not None:
            out.warn(
                Code.REVOCATION_UNCHECKED,
                "the issuer revokes cards but no revocation list was given: revocation not checked",
            )
        return
    if key.crl_version is not None and (key.crl_ctr or 0) < key.crl_version:
        out.warn(
            Code.REVOCATION_UNCHECKED,
            "the revocation list is older than the key set announces (ctr < crlVersion)",
        )
    if not isinstance(rid, str):
        return
    for entry in key.crl_rids:
        revoked, _, until = entry.partition(".")
        # "rid.T" revokes only the cards issued (nbf) before T
        if revoked == rid and (
            not until or (nbf is not None and until.isdigit() and nbf < int(until))
        ):
            out.add(Code.REVOKED, "the issuer has revoked this card")
            return
