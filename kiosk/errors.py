"""The kiosk's one error type: a code from messages.ERRORS, never personal data."""

from __future__ import annotations


class KioskError(Exception):
    def __init__(self, code: str, **fields: object) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields
