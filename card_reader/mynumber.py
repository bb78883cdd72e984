"""The My Number (個人番号) check digit."""

from __future__ import annotations

import operator

# weights of digits 1..11 from the left: (n + 1) for n = 1..6 and (n - 5) for n = 7..11,
# n counted from the right
_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ZEROS = ord("0") * sum(_WEIGHTS)


def check_digit(first11: str) -> int:
    """Check digit of the first 11 digits (weights 2..7 then 2..6 from the right)."""
    if len(first11) != 11 or not (first11.isascii() and first11.isdigit()):
        raise ValueError("need exactly 11 ASCII digits")
    total = sum(map(operator.mul, first11.encode(), _WEIGHTS)) - _ZEROS  # ASCII codes less "0"s
    rest = total % 11
    return 0 if rest <= 1 else 11 - rest


def is_valid(number: str) -> bool:
    return (
        len(number) == 12
        and number.isascii()
        and number.isdigit()
        and check_digit(number[:11]) == int(number[11])
    )


def mask(number: str) -> str:
    """What may be shown on screen: the last four digits only."""
    return "*" * 8 + number[-4:] if len(number) == 12 else "*" * len(number)
