"""Municipalities: the local government code, its check digit, and what VRS knows of each.

A municipality is an area of VRS (M10); its six-digit code is the national
local government code (全国地方公共団体コード), whose sixth digit checks the
first five.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def local_government_check_digit(code5: str) -> int:
    total = sum(int(c) * w for c, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def valid_municipality_code(code: str) -> bool:
    return (
        isinstance(code, str)
        and len(code) == 6
        and code.isascii()
        and code.isdigit()
        and local_government_check_digit(code[:5]) == int(code[5])
    )


@dataclass(frozen=True)
class Municipality:
    code: str
    name_ja: str
    name_en: str
    prefecture: str
    offers_convenience_store: bool
    mayor_ja: str
    mayor_en: str

    def public(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_ja": self.name_ja,
            "name_en": self.name_en,
            "prefecture": self.prefecture,
            "offers_convenience_store_issuance": self.offers_convenience_store,
        }
