from __future__ import annotations

import pytest

from card_reader import mynumber


def test_check_digit_of_known_numbers() -> None:
    # weights 6,5,4,3,2,7,6,5,4,3,2 over digits 1..11 from the left
    assert mynumber.check_digit("12345678901") == 8
    assert mynumber.is_valid("123456789018")
    assert not mynumber.is_valid("123456789017")


@pytest.mark.parametrize(
    "bad", ["", "12345678901", "1234567890180", "12345678901a", "１２３４５６７８９０１８"]
)
def test_malformed_numbers_are_invalid(bad: str) -> None:
    assert not mynumber.is_valid(bad)


def test_every_check_digit_value_round_trips() -> None:
    seen = set()
    for i in range(2000):
        first = f"{i * 7919:011d}"[-11:]
        d = mynumber.check_digit(first)
        seen.add(d)
        assert mynumber.is_valid(first + str(d))
        assert not mynumber.is_valid(first + str((d + 1) % 10))
    assert seen == set(range(10))


def test_mask_shows_only_the_last_four() -> None:
    assert mynumber.mask("123456789018") == "********9018"
