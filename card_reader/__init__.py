"""The card layer: PC/SC access, the My Number Card protocol and its verification.

Layers, bottom up: ``transport`` (PC/SC or in-memory) → ``apdu`` (status words,
T=0 housekeeping) → ``client`` (the 券面事項入力補助AP) → ``verify`` (issuer
signatures and card presence). ``softcard`` is the software My Number Card.

``CardWire`` (``wire``) is the card data on the wire (the kiosk → center request): this
package owns that contract, as a pydantic model the center's API is checked against. The PC/SC names load pyscard, so they
load on first use (PEP 562): VRS and the center use the card layer without a reader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .client import CardFiles, TextApplication, pin_is_well_formed
from .errors import (
    ApduError,
    CardError,
    ErrorCode,
    PinError,
    ProtocolError,
    TransportError,
    VerificationError,
)
from .files import BasicInfo, parse_basic_info, parse_my_number
from .transport import InMemoryTransport, Transport
from .trust import TrustStore
from .verify import VerifiedCard, verify_card
from .wire import CardWire

if TYPE_CHECKING:
    from .pcsc import PcscTransport, ReaderInfo, list_readers, wait_for_card_state

_PCSC = {"PcscTransport", "ReaderInfo", "list_readers", "wait_for_card_state"}


def __getattr__(name: str) -> Any:
    if name in _PCSC:
        return getattr(importlib.import_module(".pcsc", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApduError",
    "BasicInfo",
    "CardError",
    "CardFiles",
    "CardWire",
    "ErrorCode",
    "InMemoryTransport",
    "PcscTransport",
    "PinError",
    "ProtocolError",
    "ReaderInfo",
    "TextApplication",
    "Transport",
    "TransportError",
    "TrustStore",
    "VerificationError",
    "VerifiedCard",
    "list_readers",
    "parse_basic_info",
    "parse_my_number",
    "pin_is_well_formed",
    "verify_card",
    "wait_for_card_state",
]
