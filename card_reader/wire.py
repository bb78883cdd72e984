"""The card data on the wire: what a kiosk sends a verifier (the center), and nothing else.

``CardWire`` is the one declaration of that request body: the kiosk builds it from
what it read (:meth:`CardWire.of`), the center's API is checked against it and
describes it (flask-openapi3 derives its OpenAPI schema), and the verifier turns it
back into :class:`CardFiles` with the challenge it issued (:meth:`CardWire.files`).

M08: the chip's raw files and the presence signature only, each base64. Any other
field (a My Number, a name) is refused (``extra="forbid"``), never used.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .client import CardFiles

MAX_FIELD = 4096  # base64 characters: the largest EF is well under 1 KiB


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    return value


# A chip file, base64 (RFC 4648, padded, no line breaks)
Base64 = Annotated[
    str,
    Field(max_length=MAX_FIELD, json_schema_extra={"format": "byte"}),
    AfterValidator(_base64),
]


class CardWire(BaseModel):
    """The kiosk → center card request: EF 0001-0004 and 0007 as read, and the card's
    signature over the session's challenge (empty when there is none)."""

    # repr=False on each field: the files are personal data
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    ef0001: Base64 = Field(repr=False, description="EF 0001: the My Number")
    ef0002: Base64 = Field(repr=False, description="EF 0002: the four basic facts")
    ef0003: Base64 = Field(
        repr=False, description="EF 0003: their digests, signed by the card issuer"
    )
    ef0004: Base64 = Field(repr=False, description="EF 0004: the card issuer's CVC")
    ef0007: Base64 = Field(
        repr=False, description="EF 0007: the card's own key, signed with EF 0003"
    )
    presence_signature: Base64 = Field(
        repr=False, description="the card's signature over the session's challenge"
    )

    @classmethod
    def of(cls, card: CardFiles) -> CardWire:
        """What a kiosk sends for ``card`` (read with the session's challenge)."""

        def b64(data: bytes | None) -> str:
            return base64.b64encode(data or b"").decode("ascii")

        return cls(
            ef0001=b64(card.ef0001),
            ef0002=b64(card.ef0002),
            ef0003=b64(card.ef0003),
            ef0004=b64(card.ef0004),
            ef0007=b64(card.ef0007),
            presence_signature=b64(card.presence_signature),
        )

    def files(self, challenge: bytes) -> CardFiles:
        """The verifier's side: the files, with the challenge the verifier issued."""
        return CardFiles(
            ef0001=base64.b64decode(self.ef0001),
            ef0002=base64.b64decode(self.ef0002),
            ef0003=base64.b64decode(self.ef0003),
            ef0004=base64.b64decode(self.ef0004),
            ef0007=base64.b64decode(self.ef0007),
            challenge=challenge,
            presence_signature=base64.b64decode(self.presence_signature),
        )
