"""The card layer: PC/SC access, the My Number Card protocol and its verification.

Layers, bottom up: ``transport`` (PC/SC or in-memory) → ``apdu`` (status words,
T=0 housekeeping) → ``client`` (the 券面事項入力補助AP) → ``verify`` (issuer
signatures and card presence). ``softcard`` is the software My Number Card.
"""

from __future__ import annotations

from .client import CardFiles, TextApplication, from_wire, pin_is_well_formed, to_wire
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
from .pcsc import PcscTransport, ReaderInfo, list_readers
from .transport import InMemoryTransport, Transport
from .trust import TrustStore
from .verify import VerifiedCard, verify_card

__all__ = [
    "ApduError",
    "BasicInfo",
    "CardError",
    "CardFiles",
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
    "from_wire",
    "list_readers",
    "parse_basic_info",
    "parse_my_number",
    "pin_is_well_formed",
    "to_wire",
    "verify_card",
]
