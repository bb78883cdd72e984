"""Checks that card data came from a genuine card, and that the card is here now.

1. EF 0004's CVC is checked with the issuer CA key the *trust store* holds
   under the CVC's certifier key ID, never with a key from the card (M31).
2. EF 0003's digests match EF 0001 and EF 0002, and its signature verifies
   with the CVC's key (M03).
3. EF 0007's card key is signed by the CVC's key together with EF 0003's
   digests (so it belongs to this holder's data), and the card-presence
   signature over the verifier's fresh challenge verifies with that card key:
   copied files without the card cannot answer a new challenge, and another
   genuine card's key record and signature cannot stand in for it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import cvc, files
from .client import CardFiles
from .errors import CardError, ErrorCode, VerificationError
from .trust import TrustStore


@dataclass(frozen=True)
class VerifiedCard:
    my_number: str = field(repr=False)
    info: files.BasicInfo = field(repr=False)
    certifier_key_id: bytes
    presence_checked: bool


def _rsa_ok(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_certificate(ef0004: bytes, trust: TrustStore) -> cvc.CardCertificate:
    cert = cvc.parse(ef0004)
    ca_key = trust.get(cert.certifier_key_id)
    if ca_key is None:
        raise VerificationError(
            ErrorCode.UNKNOWN_ISSUER,
            f"the card's certificate names issuer key {cert.certifier_key_id.hex()}, "
            "which is not in the trust store",
        )
    if not _rsa_ok(ca_key, cert.signature, cert.body):
        raise VerificationError(
            ErrorCode.BAD_CERTIFICATE, "the card's certificate is not signed by its issuer"
        )
    return cert


def verify_integrity(card: CardFiles, signer: rsa.RSAPublicKey) -> files.IntegrityRecord:
    record = files.parse_integrity(card.ef0003)
    if not hmac.compare_digest(record.digest_my_number.value, files.sha256(card.ef0001)):
        raise VerificationError(
            ErrorCode.DIGEST_MISMATCH, "the My Number file does not match its digest"
        )
    info_digest = files.sha256(files.basic_info_digest_input(card.ef0002))
    if not hmac.compare_digest(record.digest_basic_info.value, info_digest):
        raise VerificationError(
            ErrorCode.DIGEST_MISMATCH, "the basic-information file does not match its digest"
        )
    if not _rsa_ok(signer, record.signature, record.signed_bytes):
        raise VerificationError(
            ErrorCode.BAD_SIGNATURE, "the integrity record's signature does not verify"
        )
    return record


def verify_card_key(
    ef0007: bytes, signer: rsa.RSAPublicKey, holder: files.IntegrityRecord
) -> rsa.RSAPublicKey:
    """The card's key, if the signer certified it for ``holder``'s data (DF51 ‖ DF31 ‖ DF32)."""
    record = files.parse_card_key(ef0007)
    if not _rsa_ok(signer, record.signature, record.public_key_tlv.raw + holder.signed_bytes):
        raise VerificationError(
            ErrorCode.BAD_SIGNATURE, "the card key record's signature does not verify"
        )
    return cvc.parse_rsa_public(record.public_key_tlv.value)


def verify_presence(card_key: rsa.RSAPublicKey, challenge: bytes, signature: bytes) -> None:
    if not _rsa_ok(card_key, signature, challenge):
        raise VerificationError(
            ErrorCode.BAD_PRESENCE_SIGNATURE,
            "the card did not sign this challenge: the data may be a copy or a replay",
        )


def verify_card(
    card: CardFiles, trust: TrustStore, *, expected_challenge: bytes | None = None
) -> VerifiedCard:
    """Every check above; ``expected_challenge`` makes the presence check mandatory.

    A verifier that issued a challenge passes it here, so data signed over any
    other challenge (or none) is refused.
    """
    try:
        cert = verify_certificate(card.ef0004, trust)
        holder = verify_integrity(card, cert.public_key)
        presence = False
        if expected_challenge is not None:
            if card.challenge is None or not hmac.compare_digest(
                card.challenge, expected_challenge
            ):
                raise VerificationError(
                    ErrorCode.BAD_PRESENCE_SIGNATURE,
                    "the card data answers another challenge than the one issued",
                )
            if card.presence_signature is None:
                raise VerificationError(
                    ErrorCode.BAD_PRESENCE_SIGNATURE, "the card-presence signature is missing"
                )
        if card.presence_signature is not None and card.challenge is not None:
            card_key = verify_card_key(card.ef0007, cert.public_key, holder)
            verify_presence(card_key, card.challenge, card.presence_signature)
            presence = True
        my_number = files.parse_my_number(card.ef0001)
        info = files.parse_basic_info(card.ef0002)
    except VerificationError:
        raise
    except CardError as exc:
        # a file that does not even parse cannot be genuine
        raise VerificationError(exc.code, exc.message) from None
    return VerifiedCard(my_number, info, cert.certifier_key_id, presence)
