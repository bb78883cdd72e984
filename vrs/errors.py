"""VRS's errors: stable codes the center passes on as they are."""

from __future__ import annotations

from enum import StrEnum

from serving.errors import ApiError


class Code(StrEnum):
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "request_too_large"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    LOCKED_OUT = "locked_out"
    NO_SUCH_MUNICIPALITY = "no_such_municipality"
    SERVICE_NOT_OFFERED = "service_not_offered"
    NO_RECORD = "no_record"
    NO_DOSES = "no_doses"
    PASSPORT_MISSING = "passport_missing"
    MOVED_OUT = "moved_out"
    DECEASED = "deceased"
    IMPORT_REJECTED = "import_rejected"
    CONFLICT = "conflict"
    SESSION_ALREADY_ISSUED = "session_already_issued"  # one issuance per center session
    NOT_CONFIRMED = "not_confirmed"
    BUSY = "busy"
    STORAGE_FULL = "storage_full"
    STORAGE_ERROR = "storage_error"


STATUS = {
    Code.BAD_REQUEST: 400,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.TOO_LARGE: 413,
    Code.UNAUTHENTICATED: 401,
    Code.FORBIDDEN: 403,
    Code.LOCKED_OUT: 403,
    Code.NO_SUCH_MUNICIPALITY: 404,
    Code.SERVICE_NOT_OFFERED: 403,
    Code.NO_RECORD: 404,
    Code.NO_DOSES: 422,
    Code.PASSPORT_MISSING: 422,
    Code.MOVED_OUT: 422,
    Code.DECEASED: 422,
    Code.IMPORT_REJECTED: 422,
    Code.CONFLICT: 409,
    Code.SESSION_ALREADY_ISSUED: 409,
    Code.NOT_CONFIRMED: 422,
    Code.BUSY: 503,
    Code.STORAGE_FULL: 503,
    Code.STORAGE_ERROR: 503,
}


class VrsError(ApiError):
    """Root error of VRS. Messages never hold personal data."""

    STATUS = STATUS
    code: Code

    def __init__(self, code: Code, message: str, details: list[dict[str, object]] | None = None):
        super().__init__(code, message, details)
