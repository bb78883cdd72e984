"""The card-verifiable certificate of EF 0004 and the card's RSA key encoding.

``7F21 { 5F4E body, 5F37 signature }``; the body is a 16-byte certifier key ID,
a 16-byte subject key ID, then ``90 <exponent>`` and ``91 <modulus>``. The same
``90``/``91`` pair encodes the card's own public key in EF 0007 (our choice:
the reference does not give that layout, see ``softcard`` docs).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from . import tlv
from .errors import ErrorCode, ProtocolError

TAG_CVC = 0x7F21
TAG_BODY = 0x5F4E
TAG_SIGNATURE = 0x5F37
TAG_EXPONENT = 0x90
TAG_MODULUS = 0x91
KEY_ID_LEN = 16


def encode_rsa_public(key: rsa.RSAPublicKey) -> bytes:
    nums = key.public_numbers()
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    n = nums.n.to_bytes((key.key_size + 7) // 8, "big")
    return tlv.encode(TAG_EXPONENT, e) + tlv.encode(TAG_MODULUS, n)


def parse_rsa_public(buf: bytes) -> rsa.RSAPublicKey:
    parts = tlv.children(buf)
    try:
        e = int.from_bytes(parts[TAG_EXPONENT].value, "big")
        n = int.from_bytes(parts[TAG_MODULUS].value, "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, ValueError):
        raise ProtocolError(ErrorCode.MALFORMED_DATA, "malformed RSA public key") from None


@dataclass(frozen=True)
class CardCertificate:
    certifier_key_id: bytes
    subject_key_id: bytes
    public_key: rsa.RSAPublicKey
    body: bytes  # the signed 5F4E value
    signature: bytes


def encode_body(
    certifier_key_id: bytes, subject_key_id: bytes, public_key: rsa.RSAPublicKey
) -> bytes:
    if len(certifier_key_id) != KEY_ID_LEN or len(subject_key_id) != KEY_ID_LEN:
        raise ValueError("key IDs are 16 bytes")
    return certifier_key_id + subject_key_id + encode_rsa_public(public_key)


def encode(body: bytes, signature: bytes) -> bytes:
    """The whole EF 0004 content (long-form lengths, as on the card)."""
    inner = tlv.encode(TAG_BODY, body, long_form=True) + tlv.encode(
        TAG_SIGNATURE, signature, long_form=True
    )
    return tlv.encode(TAG_CVC, inner, long_form=True)


def parse(data: bytes) -> CardCertificate:
    outer = tlv.parse_one(data)
    if outer.tag != TAG_CVC:
        raise ProtocolError(
            ErrorCode.MALFORMED_DATA, "EF 0004 is not a card-verifiable certificate"
        )
    parts = tlv.children(outer.value)
    if TAG_BODY not in parts or TAG_SIGNATURE not in parts:
        raise ProtocolError(ErrorCode.MALFORMED_DATA, "certificate lacks its body or signature")
    body = parts[TAG_BODY].value
    if len(body) < 2 * KEY_ID_LEN + 4:
        raise ProtocolError(ErrorCode.MALFORMED_DATA, "certificate body too short")
    return CardCertificate(
        certifier_key_id=body[:KEY_ID_LEN],
        subject_key_id=body[KEY_ID_LEN : 2 * KEY_ID_LEN],
        public_key=parse_rsa_public(body[2 * KEY_ID_LEN :]),
        body=body,
        signature=parts[TAG_SIGNATURE].value,
    )
