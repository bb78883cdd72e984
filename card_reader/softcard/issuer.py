"""The development card issuer: a root CA and a document signer, and personalization.

Two RSA-2048 keys, generated on first use into a directory outside the
repository (private keys 0600):

- the root CA key (``root-ca.key.pem``) signs the CVC of EF 0004; its public
  key, by certifier key ID, is the only entry of ``trust-store.json``;
- the document-signer key (``document-signer.key.pem``) is the subject of that
  CVC; it signs EF 0003 (integrity record) and the card key record of EF 0007.

``personalize`` writes the 券面事項入力補助AP files of one card from a profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .. import cvc, tlv
from ..files import (
    TAG_ADDRESS,
    TAG_BASIC_INFO,
    TAG_BIRTH,
    TAG_CARD_KEY,
    TAG_CARD_KEY_SIG,
    TAG_CARD_PUBLIC,
    TAG_DIGEST_INFO,
    TAG_DIGEST_NUMBER,
    TAG_INTEGRITY,
    TAG_INTEGRITY_SIG,
    TAG_MY_NUMBER,
    TAG_NAME,
    TAG_OFFSETS,
    TAG_SEX,
)
from ..trust import TrustStore
from .profile import EF0002_SIZE, RSA_BITS, Profile, ProfileError, write_private

ROOT_KEY_FILE = "root-ca.key.pem"
SIGNER_KEY_FILE = "document-signer.key.pem"
TRUST_STORE_FILE = "trust-store.json"
ISSUER_DIR = "card-issuer"  # the development card issuer's folder in an instance
FILLER = 0xFF
TAG_APP_INFO, TAG_APP_VERSION = 0xFF40, 0xDF41


def _sign(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def _spki(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def root_key_id(root: rsa.RSAPublicKey) -> bytes:
    """ASCII ``6000`` + 3-digit serial (the reference's test hierarchy), 00-padded to 16.

    The serial is derived from the key (SHA-256 of its SPKI mod 1000), so no
    extra file is needed and two separately created dev issuers most likely
    differ: a card from another instance is then an *unknown* issuer.
    """
    serial = int.from_bytes(hashlib.sha256(_spki(root)).digest(), "big") % 1000
    return f"6000{serial:03d}".encode("ascii").ljust(cvc.KEY_ID_LEN, b"\x00")


def signer_key_id(signer: rsa.RSAPublicKey) -> bytes:
    """The first 16 bytes of SHA-256 over the signer's SPKI (our choice)."""
    return hashlib.sha256(_spki(signer)).digest()[: cvc.KEY_ID_LEN]


def _load_or_generate(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != RSA_BITS:
            raise ValueError(f"{path}: not an RSA-{RSA_BITS} private key")
        return key
    key = rsa.generate_private_key(65537, RSA_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(path, pem.decode("ascii"))
    return key


# --- file layouts (see the reference; our choices are in README.md) ----------


def encode_my_number(number: str) -> bytes:
    """EF 0001: ``FF 10 0C <12 digits> FF FF`` (17 bytes)."""
    return tlv.encode(TAG_MY_NUMBER, number.encode("ascii")) + bytes([FILLER, FILLER])


def _facts(profile: Profile) -> bytes:
    """DF22..DF25: also exactly what DF32 hashes (the FF20 value without DF21, no filler)."""
    return b"".join(
        tlv.encode(tag, value)
        for tag, value in (
            (TAG_NAME, profile.name.encode("utf-8")),
            (TAG_ADDRESS, profile.address.encode("utf-8")),
            (TAG_BIRTH, profile.birth_date.encode("ascii")),
            (TAG_SEX, profile.sex.encode("ascii")),
        )
    )


def encode_basic_info(profile: Profile) -> bytes:
    """EF 0002: ``FF20 { DF21 offsets, DF22..DF25 }`` plus filler to EF0002_SIZE.

    "short" writes the outer length in the shortest form (``FF 20 LL``, the
    JPKI test card; ``81 LL`` or ``82 LL LL`` once the value no longer fits one
    byte), "long" always as ``82 LL LL``. DF21 lists where each TLV's tag starts,
    counted from file byte 0, so it depends on the outer header's length.
    """
    facts = _facts(profile)
    offsets_tlv_len = 2 + 1 + 8
    value_len = offsets_tlv_len + len(facts)
    long_form = profile.variant == "long"
    header_len = 2 + len(tlv.encode_length(value_len, long_form))
    pos = header_len + offsets_tlv_len
    offsets = b""
    for part in tlv.iter_tlvs(facts):
        offsets += (pos + part.offset).to_bytes(2, "big")
    value = tlv.encode(TAG_OFFSETS, offsets) + facts
    out = tlv.encode(TAG_BASIC_INFO, value, long_form=long_form)
    if len(out) > EF0002_SIZE:
        raise ProfileError(f"the basic 4 facts take {len(out)} bytes; EF 0002 holds {EF0002_SIZE}")
    return out.ljust(EF0002_SIZE, bytes([FILLER]))


def encode_app_info() -> bytes:
    """EF 0005 (content unknown on real cards): ``FF40 { DF41 format version 00 01 }``."""
    return tlv.encode(TAG_APP_INFO, tlv.encode(TAG_APP_VERSION, b"\x00\x01"))


@dataclass(frozen=True)
class DevCardIssuer:
    root_key: rsa.RSAPrivateKey
    signer_key: rsa.RSAPrivateKey
    directory: Path | None = None

    @property
    def certifier_key_id(self) -> bytes:
        return root_key_id(self.root_key.public_key())

    @property
    def subject_key_id(self) -> bytes:
        return signer_key_id(self.signer_key.public_key())

    @classmethod
    def of_instance(cls, instance: Path) -> DevCardIssuer:
        """The instance's development card issuer (in ``ISSUER_DIR``), made on first use."""
        return cls.load_or_create(Path(instance) / ISSUER_DIR)

    @staticmethod
    def trust_store_path(instance: Path) -> Path:
        """The instance's card-issuer trust store (``of_instance`` writes it): one path for
        the center that verifies cards and ``card read``."""
        return Path(instance) / ISSUER_DIR / TRUST_STORE_FILE

    @classmethod
    def load_or_create(cls, directory: Path) -> DevCardIssuer:
        """Loads the keys from ``directory``, generating what is missing (slow: RSA keygen)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        issuer = cls(
            _load_or_generate(directory / ROOT_KEY_FILE),
            _load_or_generate(directory / SIGNER_KEY_FILE),
            directory,
        )
        store = directory / TRUST_STORE_FILE
        text = issuer.trust_store().to_json()
        # derived from the root key: rewritten only if missing or stale
        if not store.exists() or store.read_text() != text:
            store.write_text(text)
        return issuer

    def trust_store(self) -> TrustStore:
        return TrustStore({self.certifier_key_id: self.root_key.public_key()})

    def certificate(self) -> bytes:
        """EF 0004: the CVC of the document signer, signed by the root CA (568 bytes)."""
        body = cvc.encode_body(
            self.certifier_key_id, self.subject_key_id, self.signer_key.public_key()
        )
        return cvc.encode(body, _sign(self.root_key, body))

    def personalize(self, profile: Profile, card_key: rsa.RSAPublicKey) -> dict[int, bytes]:
        """The 券面事項入力補助AP's readable files, FID -> content."""
        ef1 = encode_my_number(profile.my_number)
        ef2 = encode_basic_info(profile)
        signed = tlv.encode(TAG_DIGEST_NUMBER, hashlib.sha256(ef1).digest()) + tlv.encode(
            TAG_DIGEST_INFO, hashlib.sha256(_facts(profile)).digest()
        )
        ef3 = tlv.encode(
            TAG_INTEGRITY,
            signed + tlv.encode(TAG_INTEGRITY_SIG, _sign(self.signer_key, signed), long_form=True),
            long_form=True,
        )
        key_tlv = tlv.encode(TAG_CARD_PUBLIC, cvc.encode_rsa_public(card_key), long_form=True)
        # the card key is certified for this holder only: signed with EF 0003's digests, so
        # another genuine card's key record cannot vouch for copied files
        ef7 = tlv.encode(
            TAG_CARD_KEY,
            key_tlv
            + tlv.encode(
                TAG_CARD_KEY_SIG, _sign(self.signer_key, key_tlv + signed), long_form=True
            ),
            long_form=True,
        )
        return {
            0x0001: ef1,
            0x0002: ef2,
            0x0003: ef3,
            0x0004: self.certificate(),
            0x0005: encode_app_info(),
            0x0007: ef7,
        }
