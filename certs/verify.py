"""Verifying a SMART Health Card against trusted key sets, offline.

Every check runs and every problem is reported, each with a stable code and a
reason: header, DEFLATE, signature, ``kid``, ``nbf``/``exp``, revocation.
Keys are never fetched over the network; the caller says which issuers it trusts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from . import clock
from .errors import CertError, Code
from .jws import b64url_decode, inflate, key_from_jwk, verify_es256

CLOCK_SKEW = 60  # seconds of tolerance on nbf, for issuers whose clock runs ahead


@dataclass
class TrustedKey:
    kid: str
    key: ec.EllipticCurvePublicKey
    source: str
    crl_rids: set[str] | None = None  # None: the issuer publishes no revocation list


@dataclass
class KeySets:
    keys: dict[str, TrustedKey] = field(default_factory=dict)

    def add_jwks(
        self, jwks: dict[str, Any], source: str, crls: dict[str, Any] | None = None
    ) -> None:
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise CertError(Code.BAD_KEY_SET, f"{source} is not a JWK set")
        for jwk in jwks["keys"]:
            kid = jwk.get("kid")
            if not isinstance(kid, str):
                raise CertError(Code.BAD_KEY_SET, f"a key in {source} has no kid")
            rids = None
            crl = (crls or {}).get(kid)
            if crl is not None:
                rids = {str(r) for r in crl.get("rids", [])}
            self.keys[kid] = TrustedKey(kid, key_from_jwk(jwk), source, rids)

    def add_path(self, path: Path) -> None:
        """A key-set file, or an issuer folder laid out as served (``.well-known/…``)."""
        path = Path(path)
        try:
            if path.is_dir():
                wk = path / ".well-known"
                crls = {}
                for f in sorted((wk / "crl").glob("*.json")) if (wk / "crl").is_dir() else []:
                    crl = json.loads(f.read_text())
                    crls[crl.get("kid", f.stem)] = crl
                self.add_jwks(json.loads((wk / "jwks.json").read_text()), str(path), crls)
            else:
                self.add_jwks(json.loads(path.read_text()), str(path))
        except (OSError, ValueError) as exc:
            raise CertError(Code.BAD_KEY_SET, f"cannot read key set {path}: {exc}") from None


@dataclass
class Problem:
    code: Code
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass
class Verification:
    header: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems and self.payload is not None

    def add(self, code: Code, message: str) -> None:
        self.problems.append(Problem(code, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": [p.to_json() for p in self.problems],
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
        header = json.loads(b64url_decode(parts[0]))
        sig = b64url_decode(parts[2])
        body = b64url_decode(parts[1])
    except ValueError:
        out.add(Code.MALFORMED_JWS, "a JWS part is not base64url-encoded JSON")
        return out
    if not isinstance(header, dict):
        out.add(Code.BAD_HEADER, "the JWS header is not a JSON object")
        return out
    out.header = header
    if header.get("alg") != "ES256":
        out.add(Code.BAD_HEADER, f"alg must be ES256, not {header.get('alg')!r}")
    if header.get("zip") != "DEF":
        out.add(Code.BAD_HEADER, "zip must be DEF (raw DEFLATE)")
    kid = header.get("kid")
    trusted_key = trusted.keys.get(kid) if isinstance(kid, str) else None
    if trusted_key is None:
        out.add(Code.UNKNOWN_KEY, f"the signing key {kid!r} is in none of the trusted key sets")
    elif not verify_es256(trusted_key.key, f"{parts[0]}.{parts[1]}".encode("ascii"), sig):
        out.add(Code.BAD_SIGNATURE, "the signature does not verify with the issuer's key")
    try:
        payload = json.loads(inflate(body))
    except CertError as exc:
        out.add(exc.code, exc.message)
        return out
    except ValueError:
        out.add(Code.BAD_PAYLOAD, "the inflated payload is not JSON")
        return out
    if not isinstance(payload, dict):
        out.add(Code.BAD_PAYLOAD, "the payload is not a JSON object")
        return out
    out.payload = payload
    _check_claims(payload, trusted_key, out)
    return out


def _check_claims(payload: dict[str, Any], key: TrustedKey | None, out: Verification) -> None:
    now = clock.now().timestamp()
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss.startswith("https://") or iss.endswith("/"):
        out.add(Code.BAD_PAYLOAD, "iss must be an https URL without a trailing slash")
    nbf = payload.get("nbf")
    if not isinstance(nbf, int | float):
        out.add(Code.BAD_PAYLOAD, "nbf is missing")
    elif nbf > now + CLOCK_SKEW:
        out.add(Code.NOT_YET_VALID, "the card is not valid yet (nbf is in the future)")
    exp = payload.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp <= now):
        out.add(Code.EXPIRED, "the card has expired")
    vc = payload.get("vc")
    if not isinstance(vc, dict) or "https://smarthealth.cards#health-card" not in vc.get(
        "type", []
    ):
        out.add(Code.BAD_PAYLOAD, "vc.type must include https://smarthealth.cards#health-card")
        return
    subject = vc.get("credentialSubject")
    if not isinstance(subject, dict) or not isinstance(subject.get("fhirBundle"), dict):
        out.add(Code.BAD_PAYLOAD, "vc.credentialSubject.fhirBundle is missing")
    rid = vc.get("rid")
    if key is not None and key.crl_rids is not None and isinstance(rid, str):
        for entry in key.crl_rids:
            revoked_rid, _, until = entry.partition(".")
            # "rid.T": only cards issued before T are revoked
            if revoked_rid == rid and (
                not until or (isinstance(nbf, int | float) and nbf < int(until))
            ):
                out.add(Code.REVOKED, "the issuer has revoked this card")
                break
