"""The kiosk's one error type and its codes: each has words in ``messages.ERRORS``."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """What the kiosk tells the resident: its own codes, and those the center passes on (the
    card's, the center's, VRS's), which are the center's and VRS's stable codes spelt alike."""

    # the card and the PIN
    WRONG_PIN = "wrong_pin"
    CARD_REMOVED = "card_removed"
    CARD_RESET = "card_reset"
    CARD_UNREADABLE = "card_unreadable"
    NOT_MYNUMBER_CARD = "not_mynumber_card"
    UNSUPPORTED_CHARACTERS = "unsupported_characters"
    READER_UNAVAILABLE = "reader_unavailable"
    OUT_OF_SERVICE = "out_of_service"
    # the center's answer about the card
    CARD_INVALID = "card_invalid"
    UNKNOWN_ISSUER = "unknown_issuer"  # a card from an issuer the center does not trust
    CARD_REPLAYED = "card_replayed"
    # VRS's answers, passed on by the center
    NO_RECORD = "no_record"
    NO_DOSES = "no_doses"
    MOVED_OUT = "moved_out"
    DECEASED = "deceased"
    PASSPORT_MISSING = "passport_missing"
    MUNICIPALITY_NOT_OFFERED = "municipality_not_offered"
    SERVICE_NOT_OFFERED = "service_not_offered"
    NO_SUCH_MUNICIPALITY = "no_such_municipality"
    VRS_UNAVAILABLE = "vrs_unavailable"
    BUSY = "busy"
    STORAGE_FULL = "storage_full"
    STORAGE_ERROR = "storage_error"
    NOT_CONFIRMED = "not_confirmed"
    # the dedicated line and the center
    CENTER_UNAVAILABLE = "center_unavailable"
    SESSION_EXPIRED = "session_expired"
    SESSION_UNKNOWN = "session_unknown"
    SESSION_STATE = "session_state"
    SESSION_BUSY = "session_busy"
    SESSION_STORE_UNAVAILABLE = "session_store_unavailable"  # the center workers' shared store
    SESSION_ALREADY_ISSUED = "session_already_issued"  # VRS: this visit's issuance was made
    NO_CLIENT_CERTIFICATE = "no_client_certificate"
    KIOSK_UNKNOWN = "kiosk_unknown"
    KIOSK_DISABLED = "kiosk_disabled"
    KIOSK_REVOKED = "kiosk_revoked"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    REQUEST_TOO_LARGE = "request_too_large"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    LOCKED_OUT = "locked_out"
    CONFLICT = "conflict"
    IMPORT_REJECTED = "import_rejected"
    # the kiosk
    PRINT_FAILED = "print_failed"
    TIMEOUT = "timeout"
    PAYMENT_CANCELLED = "payment_cancelled"
    INTERNAL_ERROR = "internal_error"
    # a code from a newer center that this kiosk has no words for: the generic words
    UNFORESEEN = "unforeseen"

    @classmethod
    def of(cls, value: object) -> Code:
        """The code the center answered; none at all means the center could not be understood."""
        if not value:
            return cls.CENTER_UNAVAILABLE
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNFORESEEN


class KioskError(Exception):
    """A visit ends with ``code``'s words; ``fields`` fill them in. Never personal data."""

    def __init__(self, code: Code, **fields: object) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields
