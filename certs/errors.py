"""The certificate package's errors: one root, stable codes, no personal data."""

from __future__ import annotations

from enum import StrEnum
from typing import Generic, TypeVar


class Code(StrEnum):
    MALFORMED_JWS = "malformed_jws"
    BAD_HEADER = "bad_header"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    BAD_KID = "bad_kid"
    WRONG_ISSUER = "wrong_issuer"
    BAD_DEFLATE = "bad_deflate"
    BAD_PAYLOAD = "bad_payload"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    BAD_QR = "bad_qr"
    TOO_LARGE = "too_large"
    BAD_KEY_SET = "bad_key_set"
    UNKNOWN_PRODUCT = "unknown_product"
    BAD_INPUT = "bad_input"
    NO_FONT = "no_font"
    BAD_PRINTABLE = "bad_printable"  # the printable certificate's JSON is not the model's
    # cert verify: a code nobody was asked to trust, and two codes of one page that disagree
    NO_TRUST_LIST = "no_trust_list"
    ID_MISMATCH = "id_mismatch"
    BIRTH_DATE_MISMATCH = "birth_date_mismatch"
    # observations that do not make a card invalid (Verification.warnings)
    NOT_MINIFIED = "not_minified"
    REVOCATION_UNCHECKED = "revocation_unchecked"


def error_json(code: str, message: str) -> dict[str, str]:
    """The one error shape of every system (serving/errors.py), spelt here: certs is used
    without the serving stack. Errors and ``cert verify --json``'s problems alike."""
    return {"error": code, "message": message}


C = TypeVar("C", bound=StrEnum)


class CodedError(Exception, Generic[C]):
    """An error of ``certs``: ``code`` for machines, ``message`` for people (no personal data)."""

    def __init__(self, code: C, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code.value}]"

    def to_json(self) -> dict[str, str]:
        return error_json(self.code.value, self.message)


class CertError(CodedError[Code]):
    """Root error of ``certs`` (the ICAO seal's parser has its own: ``certs.vds.VdsError``)."""
