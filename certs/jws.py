"""SMART Health Card signing: minified JSON, raw DEFLATE, compact JWS ES256.

The signature is the 64-byte ``r‖s`` of JWS (not DER) and ``kid`` is the RFC
7638 thumbprint of the issuer's P-256 key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import zlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from . import clock
from .errors import CertError, Code

VC_TYPES = [
    "https://smarthealth.cards#health-card",
    # Japan's cards also listed these (deprecated) types
    "https://smarthealth.cards#immunization",
    "https://smarthealth.cards#covid19",
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text: str) -> bytes:
    """Strict base64url: the alphabet only, no padding, and the one canonical spelling.

    Python's decoder skips foreign characters and ignores the unused low bits of
    the last character; a JWS whose text changed must not decode to the same bytes.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data


def minify(obj: Any, *, ascii_only: bool = False) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_only).encode("utf-8")


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE: no zlib or gzip header
    return c.compress(data) + c.flush()


MAX_PAYLOAD = 1 << 20  # inflated; a real card's payload is a few KB


def inflate(data: bytes, limit: int = MAX_PAYLOAD) -> bytes:
    """Raw DEFLATE, at most ``limit`` bytes out: a few KB can otherwise inflate to GBs."""
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data, limit)
    except zlib.error:
        raise CertError(Code.BAD_DEFLATE, "the payload is not raw DEFLATE data") from None
    if d.unconsumed_tail:
        raise CertError(Code.TOO_LARGE, f"the payload inflates to more than {limit} bytes")
    if not d.eof or d.unused_data:
        # bytes after the stream's end would be signed but never read: refuse them
        raise CertError(Code.BAD_DEFLATE, "the payload is truncated or has data after its end")
    return out


MAX_JSON_DEPTH = 64  # a FHIR bundle nests about 12 deep; far deeper only attacks the parser


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 would parse as inf, a date in no calendar
        raise ValueError("a JSON number out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes | str) -> Any:
    """Strict JSON (RFC 8259): UTF-8, no NaN/Infinity, finite numbers, bounded depth.

    Raises only ``ValueError``: the stdlib parser alone accepts NaN and UTF-16 and
    raises RecursionError on deep nesting.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    level = [value]  # walked level by level: no recursion, whatever the depth
    for _ in range(MAX_JSON_DEPTH):
        level = [
            v
            for x in level
            if isinstance(x, dict | list)
            for v in (x.values() if isinstance(x, dict) else x)
        ]
    if any(isinstance(x, dict | list) for x in level):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    minify(value)  # a lone surrogate ("\ud800") is no UTF-8: UnicodeEncodeError, a ValueError
    return value


def _coord(n: int) -> str:
    return b64url(n.to_bytes(32, "big"))


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    nums = key.public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": _coord(nums.x), "y": _coord(nums.y)}
    return {**jwk, "kid": thumbprint(jwk), "use": "sig", "alg": "ES256"}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order."""
    canonical = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    return b64url(hashlib.sha256(minify(canonical)).digest())


def key_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise CertError(Code.BAD_KEY_SET, "only EC P-256 keys are used for SHCs")
    try:
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, ValueError):
        raise CertError(Code.BAD_KEY_SET, "a key in the key set is malformed") from None


class IssuerKey:
    """The issuer's ES256 key; generated at first run, kept outside the repository."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key
        self.public_jwk = public_jwk(private_key.public_key())
        self.kid = self.public_jwk["kid"]

    @classmethod
    def generate(cls) -> IssuerKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load_or_create(cls, path: Path) -> IssuerKey:
        path = Path(path)
        if not path.exists():
            issuer = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = issuer._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:  # O_EXCL: of two first runs at once, one key wins and both use it
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                return issuer
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), None)
        except ValueError:
            raise CertError(
                Code.BAD_KEY_SET, "the issuer key file is not a PEM private key"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise CertError(Code.BAD_KEY_SET, "the issuer key file is not a P-256 key")
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        """The public key set, as served at ``iss/.well-known/jwks.json`` (never ``d``)."""
        return {"keys": [dict(self.public_jwk)]}

    def sign_compact(self, payload: dict[str, Any]) -> str:
        header = minify({"alg": "ES256", "zip": "DEF", "kid": self.kid})
        signing_input = f"{b64url(header)}.{b64url(deflate(minify(payload)))}"
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def make_payload(
    iss: str,
    bundle: dict[str, Any],
    *,
    nbf: int | None = None,
    exp: int | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    vc: dict[str, Any] = {
        "type": list(VC_TYPES),
        "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": bundle},
    }
    if rid is not None:
        vc["rid"] = rid
    if not iss.startswith("https://") or iss.endswith("/"):
        raise CertError(Code.BAD_INPUT, "the issuer URL must be https, without a trailing slash")
    payload: dict[str, Any] = {
        "iss": iss,
        "nbf": int(clock.now().timestamp()) if nbf is None else nbf,
    }
    if exp is not None:
        payload["exp"] = exp
    payload["vc"] = vc
    return payload


def sign(issuer: IssuerKey, iss: str, bundle: dict[str, Any], **claims: Any) -> str:
    """The SHC of ``bundle`` as a compact JWS."""
    return issuer.sign_compact(make_payload(iss, bundle, **claims))


def verify_es256(key: ec.EllipticCurvePublicKey, signing_input: bytes, sig: bytes) -> bool:
    if len(sig) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except Exception:  # InvalidSignature, or a point that is not on the curve
        return False
    return True
