"""The card holder's profile (what gets personalized) and the card's persistent state.

The profile is a JSON file a tester edits; the state file is the card's
"EEPROM": the PIN try counter and the card's own signing key 0013, so a
restarted emulator is the same card and a locked PIN stays locked.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import mynumber

MAX_PIN_TRIES = 3
EF0002_SIZE = 512  # fixed size of EF 0002; the FF20 TLV plus filler fills it
# What is left of EF 0002 for the name and address bytes in the worst case:
# 5 (FF20 82 LL LL) + 11 (DF21) + 11 (DF24) + 4 (DF25) + 2 x 5 (DF22/DF23 82 LL LL).
MAX_TEXT_BYTES = EF0002_SIZE - 5 - 11 - 11 - 4 - 10
SEX_CODES = ("1", "2", "9", "0")
VARIANTS = ("short", "long")
RSA_BITS = 2048


class ProfileError(ValueError):
    """A profile or state file is invalid; the message names the field, never its value."""


def write_private(path: Path, text: str) -> None:
    """Atomically replaces ``path`` (temp file + os.replace), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Profile:
    my_number: str
    name: str  # family and given name separated by U+3000
    address: str  # block numbers in full-width digits, as on the card
    birth_date: str  # "YYYYMMDD", Gregorian
    sex: str  # "1" male, "2" female, "9" not applicable, "0" unknown
    pin: str  # the 4-digit PIN of the 券面事項入力補助AP
    variant: str = "short"  # EF 0002 outer length: "short" (FF 20 LL) or "long" (FF 20 82 LL LL)

    def __post_init__(self) -> None:
        for name in ("my_number", "name", "address", "birth_date", "sex", "pin", "variant"):
            if not isinstance(getattr(self, name), str):
                raise ProfileError(f"profile field {name!r} must be a string")
        if not mynumber.is_valid(self.my_number):
            raise ProfileError("my_number must be 12 ASCII digits with a valid check digit")
        if not self.name.strip() or not self.address.strip():
            raise ProfileError("name and address must not be empty")
        try:
            text_bytes = len(self.name.encode("utf-8")) + len(self.address.encode("utf-8"))
        except UnicodeEncodeError:
            raise ProfileError("name and address must be valid Unicode text") from None
        if text_bytes > MAX_TEXT_BYTES:
            raise ProfileError(
                f"name and address take {text_bytes} UTF-8 bytes; EF 0002 holds {MAX_TEXT_BYTES}"
            )
        if len(self.birth_date) != 8 or not (
            self.birth_date.isascii() and self.birth_date.isdigit()
        ):
            raise ProfileError("birth_date must be YYYYMMDD")
        try:
            date(int(self.birth_date[:4]), int(self.birth_date[4:6]), int(self.birth_date[6:]))
        except ValueError:
            raise ProfileError("birth_date is not a real date") from None
        if self.sex not in SEX_CODES:
            raise ProfileError("sex must be '1' (male), '2' (female), '9' or '0'")
        if len(self.pin) != 4 or not (self.pin.isascii() and self.pin.isdigit()):
            raise ProfileError("pin must be exactly 4 ASCII digits")
        if self.variant not in VARIANTS:
            raise ProfileError("variant must be 'short' or 'long'")

    @classmethod
    def from_dict(cls, data: Any) -> Profile:
        if not isinstance(data, dict):
            raise ProfileError("a profile is a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ProfileError(f"unknown profile fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except TypeError:
            raise ProfileError(
                "a profile needs my_number, name, address, birth_date, sex and pin"
            ) from None

    @classmethod
    def load(cls, path: Path) -> Profile:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
        return cls.from_dict(data)

    def save(self, path: Path) -> None:
        # 0600: the file holds a PIN, even if only a synthetic holder's
        write_private(Path(path), json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n")

    @classmethod
    def demo(cls, variant: str = "short") -> Profile:
        """A synthetic, clearly fake holder (見本 = "specimen"; 見本町 is no real town)."""
        return cls(
            my_number="123456789018",  # the textbook example number, check digit 8
            name="見本\u3000花子",
            address="愛媛県新居浜市見本町一丁目２番３号",
            birth_date="19800401",
            sex="2",
            pin="1234",
            variant=variant,
        )


class CardState:
    """The card's persistent state: PIN tries left and the signing key 0013.

    Every change of the try counter is written before the card answers, so a
    restart (or a pulled card) never gives a try back. ``path=None`` keeps the
    state in memory only (tests, throw-away cards).
    """

    def __init__(
        self, card_key: rsa.RSAPrivateKey, tries_left: int = MAX_PIN_TRIES, path: Path | None = None
    ) -> None:
        if card_key.key_size != RSA_BITS:
            raise ProfileError("the card key must be RSA-2048")
        if not 0 <= tries_left <= MAX_PIN_TRIES:
            raise ProfileError("pin_tries_left must be 0..3")
        self.card_key = card_key
        self._tries = tries_left
        self.path = Path(path) if path is not None else None

    @property
    def tries_left(self) -> int:
        return self._tries

    def set_tries_left(self, tries: int) -> None:
        if tries == self._tries:
            return
        self._tries = tries
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        pem = self.card_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        doc = {"format": 1, "pin_tries_left": self._tries, "card_key_pem": pem}
        write_private(self.path, json.dumps(doc, indent=2) + "\n")

    @classmethod
    def new(cls, path: Path | None = None) -> CardState:
        """A fresh card: new key 0013, full try counter (written at once when ``path`` is set)."""
        state = cls(rsa.generate_private_key(65537, RSA_BITS), MAX_PIN_TRIES, path)
        state.save()
        return state

    @classmethod
    def load(cls, path: Path) -> CardState:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            tries = doc["pin_tries_left"]
            key = serialization.load_pem_private_key(doc["card_key_pem"].encode(), None)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise ProfileError(f"{path}: not a software-card state file") from None
        if not isinstance(key, rsa.RSAPrivateKey) or type(tries) is not int:
            raise ProfileError(f"{path}: not a software-card state file")
        return cls(key, tries, Path(path))

    @classmethod
    def load_or_create(cls, path: Path | None) -> CardState:
        if path is None:
            return cls.new()
        return cls.load(path) if Path(path).exists() else cls.new(path)
