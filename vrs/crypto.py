"""Encryption at rest (M11): per-municipality data keys wrapped by a master key.

- The master key (32 random bytes) lives in a file outside the database.
- Each municipality has its own AES-256-GCM data key, stored in the database
  only wrapped (AES-GCM under the master key, bound to the municipality code).
- A person's personal fields are one AES-GCM blob bound (AAD) to the area,
  the table and the row, so a blob copied to another area or row fails.
- My Number lookups use a blind index: HMAC-SHA256 under a per-municipality
  key derived from the master key. The same number gives different indexes in
  different areas, and the database holds no plaintext My Number.
- Vaccination coupon numbers (接種券番号) have their own blind index under
  another derived key, so the internet-facing side (vaccination-site tablets)
  can find a coupon's doses without any key that finds a My Number (M12).
- A person's dose list is sealed with the area's dose key, derived from its
  data key (HKDF-SHA256, its own label). The internet-facing side holds only
  that key and the coupon index key: neither opens a person's fields.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key is 32 bytes")
        self._wrap = AESGCM(hmac.new(key, b"vrs wrap key", hashlib.sha256).digest())
        self._index_root = hmac.new(key, b"vrs blind index", hashlib.sha256).digest()

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
        return cls(path.read_bytes())

    def wrap(self, municipality: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._wrap.encrypt(nonce, data_key, f"dek:{municipality}".encode())

    def unwrap(self, municipality: str, wrapped: bytes) -> bytes:
        return self._wrap.decrypt(wrapped[:NONCE], wrapped[NONCE:], f"dek:{municipality}".encode())

    def area(self, municipality: str, wrapped: bytes) -> AreaKeys:
        index_key = hmac.new(self._index_root, municipality.encode(), hashlib.sha256).digest()
        coupon_key = hmac.new(
            self._index_root, f"coupon:{municipality}".encode(), hashlib.sha256
        ).digest()
        return AreaKeys(municipality, self.unwrap(municipality, wrapped), index_key, coupon_key)


class AreaKeys:
    """The keys of one municipality's area."""

    def __init__(
        self, municipality: str, data_key: bytes, index_key: bytes, coupon_key: bytes
    ) -> None:
        self.municipality = municipality
        self._aead = AESGCM(data_key)
        self._raw = (municipality, data_key, index_key, coupon_key)
        # keyed once, copied per index: half the cost of keying HMAC for every number
        self._index = hmac.new(index_key, digestmod="sha256")
        self._doses = DoseKeys(municipality, AESGCM(dose_key(municipality, data_key)), coupon_key)

    def __reduce__(self) -> tuple[type[AreaKeys], tuple[str, bytes, bytes, bytes]]:
        """Pickled only to reach an import's own worker processes (ledger_chunks.py), by pipe."""
        return (AreaKeys, self._raw)

    def blind_index(self, my_number: str) -> bytes:
        h = self._index.copy()
        h.update(my_number.encode("ascii"))
        return h.digest()

    def coupon_index(self, coupon: str) -> bytes:
        return self._doses.coupon_index(coupon)

    def seal(self, table: str, row: str, fields: dict[str, Any]) -> bytes:
        return _seal(self._aead, self.municipality, _not_doses(table), row, fields)

    def open(self, table: str, row: str, blob: bytes) -> dict[str, Any]:
        return _open(self._aead, self.municipality, _not_doses(table), row, blob)

    def dose_keys(self) -> DoseKeys:
        return self._doses

    def open_legacy_doses(self, person_id: str, blob: bytes) -> list[dict[str, Any]]:
        """A dose list sealed before dose keys (database format 1): only to re-seal it."""
        doses: list[dict[str, Any]] = _open(
            self._aead, self.municipality, "doses", person_id, blob
        )["doses"]
        return doses


class DoseKeys:
    """The part of an area's keys a vaccination site may use: coupon lookups, dose lists.

    No My Number index key, and no data key: dose lists are sealed with a key of
    their own, so a person's sealed fields cannot be opened with what it holds,
    whatever AAD is tried (AES-GCM fails with ``InvalidTag``).
    """

    def __init__(self, municipality: str, aead: AESGCM, coupon_key: bytes) -> None:
        self.municipality = municipality
        self._aead = aead
        self._coupon_key = coupon_key
        self._coupon = hmac.new(coupon_key, digestmod="sha256")  # keyed once, copied per index

    def coupon_index(self, coupon: str) -> bytes:
        h = self._coupon.copy()
        h.update(coupon.encode("ascii"))
        return h.digest()

    def seal_doses(self, person_id: str, doses: list[dict[str, Any]]) -> bytes:
        return _seal(self._aead, self.municipality, "doses", person_id, {"doses": doses})

    def open_doses(self, person_id: str, blob: bytes) -> list[dict[str, Any]]:
        doses: list[dict[str, Any]] = _open(
            self._aead, self.municipality, "doses", person_id, blob
        )["doses"]
        return doses


def dose_key(municipality: str, data_key: bytes) -> bytes:
    """The area's dose key: HKDF-SHA256 of its data key under a label of its own.

    Derived rather than a second wrapped key: nothing new to store, back up or
    rotate, areas made before it get theirs without a key migration, and the
    LGWAN side (which holds the data key) always has it. HKDF is one-way, so
    the dose key tells nothing of the data key; the municipality code in the
    label keeps each area's dose key its own.
    """
    info = f"vrs dose key:{municipality}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key)


def _not_doses(table: str) -> str:
    if table == "doses":
        raise ValueError("dose lists are sealed with the area's dose key: use dose_keys()")
    return table


def _aad(municipality: str, table: str, row: str) -> bytes:
    return f"{municipality}:{table}:{row}".encode()


# one encoder for every seal (json.dumps with options builds a new one per call); the same
# compact UTF-8 JSON as before
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _seal(aead: AESGCM, municipality: str, table: str, row: str, fields: dict[str, Any]) -> bytes:
    nonce = os.urandom(NONCE)
    plain = _JSON.encode(fields).encode()
    return nonce + aead.encrypt(nonce, plain, _aad(municipality, table, row))


def _open(aead: AESGCM, municipality: str, table: str, row: str, blob: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(
        aead.decrypt(blob[:NONCE], blob[NONCE:], _aad(municipality, table, row))
    )  # what _seal wrote: authenticated, so always its JSON object
    return fields


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
