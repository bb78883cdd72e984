"""The center's errors: stable codes the kiosk turns into words for the resident."""

from __future__ import annotations

from enum import StrEnum

from serving.errors import ApiError


class Code(StrEnum):
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "request_too_large"
    NO_CLIENT_CERTIFICATE = "no_client_certificate"
    KIOSK_UNKNOWN = "kiosk_unknown"
    KIOSK_DISABLED = "kiosk_disabled"
    KIOSK_REVOKED = "kiosk_revoked"
    SESSION_UNKNOWN = "session_unknown"
    SESSION_EXPIRED = "session_expired"
    SESSION_STATE = "session_state"
    SESSION_BUSY = "session_busy"  # another call on the same session is still in flight
    CARD_INVALID = "card_invalid"
    # the card's certificate names an issuer key the trust store does not hold: a real card,
    # unless the center was given its issuer's key (`center serve --trust-card-issuer`)
    UNKNOWN_ISSUER = "unknown_issuer"
    CARD_REPLAYED = "card_replayed"
    MUNICIPALITY_NOT_OFFERED = "municipality_not_offered"
    VRS_UNAVAILABLE = "vrs_unavailable"
    VRS_REFUSED = "vrs_refused"
    SESSION_STORE_UNAVAILABLE = "session_store_unavailable"  # the workers' shared Redis


STATUS = {
    Code.BAD_REQUEST: 400,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.TOO_LARGE: 413,
    Code.NO_CLIENT_CERTIFICATE: 401,
    Code.KIOSK_UNKNOWN: 403,
    Code.KIOSK_DISABLED: 403,
    Code.KIOSK_REVOKED: 403,
    Code.SESSION_UNKNOWN: 404,
    Code.SESSION_EXPIRED: 410,
    Code.SESSION_STATE: 409,
    Code.SESSION_BUSY: 409,
    Code.CARD_INVALID: 422,
    Code.UNKNOWN_ISSUER: 422,
    Code.CARD_REPLAYED: 422,
    Code.MUNICIPALITY_NOT_OFFERED: 403,
    Code.VRS_UNAVAILABLE: 503,
    Code.VRS_REFUSED: 422,
    Code.SESSION_STORE_UNAVAILABLE: 503,
}


class CenterError(ApiError):
    """Root error of the center. ``detail``, the code a downstream system gave (the card's,
    VRS's), goes out as ``details: [{"error": detail}]``."""

    STATUS = STATUS
    code: Code

    def __init__(self, code: Code, message: str, detail: str | None = None) -> None:
        super().__init__(code, message, [{"error": detail}] if detail else None)
        self.detail = detail
