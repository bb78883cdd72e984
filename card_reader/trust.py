"""The verifier's trust store: card-issuer CA public keys by certifier key ID (M31).

A CVC is only as good as the key that checks it; that key must come from here,
never from the card being checked.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def read_issuer_key(path: Path) -> rsa.RSAPublicKey:
    """A card issuer's RSA public key from a PEM file: an X.509 certificate (its subject's
    key) or a public key. ValueError, in words naming the file, for anything else."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    key: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValueError(
            f"{path}: not a PEM certificate or public key (-----BEGIN CERTIFICATE----- or "
            "-----BEGIN PUBLIC KEY-----)"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path}: the key is not RSA (card issuers sign with RSA)")
    return key


class TrustStore:
    def __init__(self, keys: dict[bytes, rsa.RSAPublicKey] | None = None) -> None:
        self._keys: dict[bytes, rsa.RSAPublicKey] = dict(keys or {})

    def add(self, key_id: bytes, key: rsa.RSAPublicKey) -> None:
        self._keys[bytes(key_id)] = key

    def get(self, key_id: bytes) -> rsa.RSAPublicKey | None:
        return self._keys.get(bytes(key_id))

    def key_ids(self) -> list[bytes]:
        return sorted(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def to_json(self) -> str:
        entries = [
            {
                "key_id": kid.hex(),
                "public_key_pem": key.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode(),
            }
            for kid, key in sorted(self._keys.items())
        ]
        return json.dumps({"card_issuer_keys": entries}, indent=2)

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def from_json(cls, text: str) -> TrustStore:
        store = cls()
        for entry in json.loads(text)["card_issuer_keys"]:
            key = serialization.load_pem_public_key(entry["public_key_pem"].encode())
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("trust store entries must be RSA keys")
            store.add(bytes.fromhex(entry["key_id"]), key)
        return store

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        return cls.from_json(Path(path).read_text())
