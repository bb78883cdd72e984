"""The session store's transitions: claim under the lock, work outside it, release or close."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from freezegun import freeze_time

from issuance_center.errors import CenterError, Code
from issuance_center.sessions import SessionStore, Step

NUMBER = "123456789018"


def refused(code: Code, call: Callable[..., object], *args: object) -> None:
    with pytest.raises(CenterError) as caught:
        call(*args)
    assert caught.value.code is code


def verified(store: SessionStore) -> str:
    sid = store.open("K0001").id
    assert store.release(store.claim(sid, "K0001", Step.CARD), NUMBER)
    return sid


def test_a_step_in_flight_makes_every_other_step_busy() -> None:
    store = SessionStore(ttl=600)
    sid = store.open("K0001").id
    card = store.claim(sid, "K0001", Step.CARD)
    assert card.my_number == ""  # nothing verified yet
    for step in Step:  # a second card answer, and the steps the card is verified for
        refused(Code.SESSION_BUSY, store.claim, sid, "K0001", step)
    assert store.release(card, NUMBER)

    eligibility = store.claim(sid, "K0001", Step.ELIGIBILITY)
    assert eligibility.my_number == NUMBER
    refused(Code.SESSION_BUSY, store.claim, sid, "K0001", Step.ISSUE)
    refused(Code.SESSION_BUSY, store.claim, sid, "K0001", Step.ELIGIBILITY)
    assert store.release(eligibility)
    assert store.claim(sid, "K0001", Step.ISSUE).my_number == NUMBER
    refused(Code.SESSION_BUSY, store.claim, sid, "K0001", Step.ISSUE)


def test_a_card_after_the_verified_one_is_a_replay_that_ends_the_session() -> None:
    store = SessionStore(ttl=600)
    sid = verified(store)
    session = store.get(sid, "K0001")
    refused(Code.CARD_REPLAYED, store.claim, sid, "K0001", Step.CARD)
    assert session.my_number is None
    refused(Code.SESSION_UNKNOWN, store.get, sid, "K0001")


def test_a_card_while_eligibility_is_in_flight_is_still_a_replay() -> None:
    store = SessionStore(ttl=600)
    sid = verified(store)
    store.claim(sid, "K0001", Step.ELIGIBILITY)
    refused(Code.CARD_REPLAYED, store.claim, sid, "K0001", Step.CARD)
    refused(Code.SESSION_UNKNOWN, store.get, sid, "K0001")


def test_nothing_but_the_card_before_the_card_is_verified() -> None:
    store = SessionStore(ttl=600)
    sid = store.open("K0001").id
    refused(Code.SESSION_STATE, store.claim, sid, "K0001", Step.ELIGIBILITY)
    refused(Code.SESSION_STATE, store.claim, sid, "K0001", Step.ISSUE)
    store.claim(sid, "K0001", Step.CARD)  # those refusals claimed nothing


def test_a_step_that_raises_releases_the_session() -> None:
    store = SessionStore(ttl=600)
    sid = verified(store)
    with pytest.raises(CenterError), store.step(sid, "K0001", Step.ELIGIBILITY):
        raise CenterError(Code.VRS_UNAVAILABLE, "VRS is down")
    assert store.claim(sid, "K0001", Step.ELIGIBILITY).my_number == NUMBER  # try again


def test_a_cancel_during_a_step_wipes_and_the_release_puts_nothing_back() -> None:
    store = SessionStore(ttl=600)
    sid = store.open("K0001").id
    card = store.claim(sid, "K0001", Step.CARD)
    store.close(sid)  # the kiosk cancels while the card is verified
    assert not store.release(card, NUMBER)
    assert card.session.my_number is None and len(store) == 0
    refused(Code.SESSION_UNKNOWN, store.get, sid, "K0001")


def test_a_session_expiring_during_a_step_is_wiped() -> None:
    with freeze_time() as frozen:
        store = SessionStore(ttl=600)
        sid = verified(store)
        eligibility = store.claim(sid, "K0001", Step.ELIGIBILITY)
        frozen.tick(601)
        assert len(store) == 0  # swept although a step is in flight
        assert eligibility.session.my_number is None
        assert not store.release(eligibility)
        refused(Code.SESSION_UNKNOWN, store.claim, sid, "K0001", Step.ISSUE)


def test_an_expired_or_foreign_session_cannot_be_claimed() -> None:
    with freeze_time() as frozen:
        store = SessionStore(ttl=600)
        sid = verified(store)
        refused(Code.SESSION_UNKNOWN, store.claim, sid, "K0002", Step.ISSUE)
        frozen.tick(601)
        refused(Code.SESSION_EXPIRED, store.claim, sid, "K0001", Step.ISSUE)
        refused(Code.SESSION_UNKNOWN, store.claim, sid, "K0001", Step.ISSUE)


def test_the_store_says_which_sessions_it_still_holds() -> None:
    """What the kiosk tests ask of the center after a visit: is that session gone?"""
    with freeze_time("2024-04-01 09:00:00") as clock:
        store = SessionStore(ttl=600)
        kept, closed, expiring = (store.open("K0001").id for _ in range(3))
        store.close(closed)
        assert (kept in store, closed in store, "made-up" in store) == (True, False, False)
        clock.tick(300)
        expiring_later = store.open("K0001").id
        clock.tick(301)  # the first three expired; the fourth has 299 s left
        assert (kept in store, expiring in store, expiring_later in store) == (False, False, True)
