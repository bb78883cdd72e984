"""The card layer's errors: one root type, a stable machine-readable code each.

Messages never carry personal data (no My Number, name, PIN), only what went
wrong, so they can be logged and shown as they are.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # transport
    NO_READER = "no_reader"
    NO_CARD = "no_card"
    CARD_REMOVED = "card_removed"
    # another program reset the card: it is there, but its PIN status is gone (pcsc.py)
    CARD_RESET = "card_reset"
    READER_UNAVAILABLE = "reader_unavailable"
    TIMEOUT = "timeout"
    TRANSPORT = "transport"
    # protocol
    BAD_RESPONSE = "bad_response"
    STATUS = "status"
    # application
    NOT_MYNUMBER_CARD = "not_mynumber_card"
    INVALID_PIN_FORMAT = "invalid_pin_format"
    WRONG_PIN = "wrong_pin"
    PIN_BLOCKED = "pin_blocked"
    PIN_REQUIRED = "pin_required"
    LAST_TRY = "last_try"
    MALFORMED_DATA = "malformed_data"
    UNSUPPORTED_CHARACTERS = "unsupported_characters"
    INVALID_MY_NUMBER = "invalid_my_number"
    # verification
    DIGEST_MISMATCH = "digest_mismatch"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_ISSUER = "unknown_issuer"
    BAD_CERTIFICATE = "bad_certificate"
    BAD_PRESENCE_SIGNATURE = "bad_presence_signature"
    # APDU traces (trace.py)
    BAD_TRACE = "bad_trace"


class CardError(Exception):
    """Root of every error the card layer raises."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code.value}]"


class TransportError(CardError):
    """The link to the card failed: no reader, no card, removed, timed out."""


class ApduError(CardError):
    """The card answered a status word the caller did not expect."""

    def __init__(self, sw: int, message: str | None = None) -> None:
        super().__init__(ErrorCode.STATUS, message or f"card answered status {sw:04X}")
        self.sw = sw


class ProtocolError(CardError):
    """The card's answer or data does not follow the protocol."""


def tries_left_text(n: int) -> str:
    """The count as a person reads it: "1 try left", "2 tries left"."""
    return f"{n} try left" if n == 1 else f"{n} tries left"


class PinError(CardError):
    """A PIN problem; ``tries_left`` is known when the card told it."""

    def __init__(self, code: ErrorCode, message: str, tries_left: int | None = None) -> None:
        super().__init__(code, message)
        self.tries_left = tries_left


class VerificationError(CardError):
    """The card's data or signatures do not verify."""


class TraceError(CardError):
    """An APDU trace cannot be written, or a trace given to replay is not one."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.BAD_TRACE, message)
