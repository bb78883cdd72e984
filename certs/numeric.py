"""The ``shc:/`` value: each JWS character c written as the two digits ``ord(c) - 45``.

Text only, apart from ``certs.qr``: VRS encodes every certificate it signs and needs no
QR library for that.
"""

from __future__ import annotations

import re

from .errors import CertError, Code

PREFIX = "shc:/"
# [0-9], not \d: \d also matches full-width and other Unicode digits; chunk numbers
# short, for int() refuses numbers of over 4300 digits with a ValueError
SINGLE = re.compile(r"shc:/([0-9]+)")
_CHUNK = re.compile(r"shc:/([0-9]{1,9})/([0-9]{1,9})/([0-9]+)")


# each character from "-" (45) to "z" (122) as two digits, ord - 45 (SHC spec, "Encoding
# Chunks as QR codes"); str.translate does the whole JWS in C (VRS does this per certificate)
_NUMERIC = {c: f"{c - 45:02d}" for c in range(45, 123)}
_OUTSIDE = re.compile(r"[^\x2d-\x7a]")


def to_numeric(jws: str) -> str:
    if _OUTSIDE.search(jws):
        raise CertError(Code.MALFORMED_JWS, "a JWS holds only base64url characters and dots")
    return PREFIX + jws.translate(_NUMERIC)


def _digits_to_jws(digits: str) -> str:
    if len(digits) % 2:
        raise CertError(Code.BAD_QR, "the QR's numeric part has an odd number of digits")
    out = []
    for i in range(0, len(digits), 2):
        v = int(digits[i : i + 2])
        if v > 77:  # 'z' is 122 = 77 + 45
            raise CertError(Code.BAD_QR, "the QR's numeric part is not an SHC encoding")
        out.append(chr(v + 45))
    return "".join(out)


def from_numeric(values: str | list[str]) -> str:
    """The JWS of one ``shc:/`` value, or of all chunks (``shc:/C/N/…``) in any order."""
    values = [values] if isinstance(values, str) else values
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise CertError(Code.BAD_QR, "QR values are text")
    values = [v.strip() for v in values]
    if len(values) == 1 and (m := SINGLE.fullmatch(values[0])):
        return _digits_to_jws(m.group(1))
    chunks: dict[int, str] = {}
    total = None
    for v in values:
        m = _CHUNK.fullmatch(v)
        if not m:
            raise CertError(Code.BAD_QR, "not a SMART Health Card QR value (shc:/…)")
        c, n = int(m.group(1)), int(m.group(2))
        if total not in (None, n) or not 1 <= c <= n or c in chunks:
            raise CertError(Code.BAD_QR, "the QR chunks do not belong together")
        total = n
        chunks[c] = m.group(3)
    if total is None or len(chunks) != total:
        raise CertError(Code.BAD_QR, f"{len(chunks)} of {total} QR chunks given")
    return _digits_to_jws("".join(chunks[i] for i in range(1, total + 1)))
