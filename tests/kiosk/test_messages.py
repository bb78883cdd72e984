"""Every code the center, VRS or the card can send reaches the resident as words in both languages."""

from __future__ import annotations

import re

import pytest

from card_reader import ErrorCode
from issuance_center.errors import Code as CenterCode
from kiosk import messages
from kiosk.errors import Code as KioskCode
from vrs.errors import Code as VrsCode

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# vrs_refused never reaches the resident as such: the center passes VRS's own code on in `details`
CENTER_CODES = [c.value for c in CenterCode if c is not CenterCode.VRS_REFUSED]
KIOSK_CODES = [
    "center_unavailable",
    "print_failed",
    "timeout",
    "payment_cancelled",
    "wrong_pin",
    "card_reset",
    "reader_unavailable",
    "out_of_service",
    "internal_error",
]


@pytest.mark.parametrize("code", sorted({*CENTER_CODES, *(c.value for c in VrsCode), *KIOSK_CODES}))
def test_each_code_has_its_own_words_in_japanese_and_english(code: str) -> None:
    assert code in messages.ERRORS  # not the generic "something went wrong"
    text = messages.error_text(code, tries=2)
    assert JAPANESE.search(text["ja"]) and not JAPANESE.search(text["en"])
    assert text["en"][0].isupper()


@pytest.mark.parametrize("code", list(ErrorCode))
def test_each_card_code_maps_to_words(code: ErrorCode) -> None:
    kiosk_code = messages.card_code(code)
    assert kiosk_code in messages.ERRORS


def test_a_failure_that_costs_nothing_says_so() -> None:
    """The resident is told they were not charged whenever the kiosk stops before printing."""
    for code in (
        "vrs_unavailable",
        "center_unavailable",
        "print_failed",
        "timeout",
        "card_removed",
        "card_reset",
        "reader_unavailable",
        "session_unknown",
        "internal_error",
    ):
        text = messages.error_text(code)
        assert "料金はかかりません" in text["ja"] and "not charged" in text["en"]


def test_a_wrong_pin_names_the_tries_left() -> None:
    assert messages.error_text("wrong_pin", tries=1) == {
        "ja": "暗証番号が違います。残り1回です",
        "en": "Wrong PIN. Tries left: 1",
    }


def test_a_visit_the_center_lost_is_not_blamed_on_the_resident() -> None:
    """After a center restart the session is unknown: no "time ran out", just start again."""
    text = messages.error_text("session_unknown")
    assert "時間切れ" not in text["ja"] and "time ran out" not in text["en"]
    assert "やり直して" in text["ja"] and "start again" in text["en"]


def test_the_kiosks_codes_are_the_codes_it_has_words_for() -> None:
    """KioskError takes a Code: one with its own words, or UNFORESEEN (the generic words)."""
    assert set(messages.ERRORS) == set(KioskCode) - {KioskCode.UNFORESEEN}
    assert messages.error_text(KioskCode.UNFORESEEN) == messages.GENERIC
    assert set(messages.CARD_CODES.values()) <= set(KioskCode)


@pytest.mark.parametrize(
    ("answered", "code"),
    [
        ("no_record", KioskCode.NO_RECORD),
        (None, KioskCode.CENTER_UNAVAILABLE),
        ("newer", KioskCode.UNFORESEEN),
    ],
)
def test_a_code_the_center_answered_becomes_the_kiosks(answered: object, code: KioskCode) -> None:
    assert KioskCode.of(answered) is code


def test_the_kiosk_finds_vrs_code_behind_the_centers_refusal() -> None:
    """The center's answer as it builds it; the kiosk's words are chosen by VRS's code in it."""
    from issuance_center.errors import CenterError
    from kiosk.center import passed_on

    answer = CenterError(CenterCode.VRS_REFUSED, "refused", "moved_out").to_json()
    assert KioskCode.of(passed_on(answer)) is KioskCode.MOVED_OUT
    assert passed_on({"error": "vrs_refused", "message": "refused"}) is None
