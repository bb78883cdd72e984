"""The session store's transitions: claim under the lock, work outside it, release or close.

Every test runs against both stores: this process's memory and the Redis the center's
workers share. They must give the same answers to the same calls (``sessions.py``).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from freezegun import freeze_time

from issuance_center.errors import CenterError, Code
from issuance_center.redis_server import OwnRedis
from issuance_center.sessions import Sessions, SessionStore, Step
from issuance_center.shared import RedisSessionStore

NUMBER = "123456789018"


@dataclass
class Stores:
    """Makes stores of one kind; ``ttl`` is their session lifetime, ``tick`` lets time pass."""

    make: Callable[[], Sessions]
    ttl: float
    tick: Callable[[float], None]


@pytest.fixture(params=["memory", "redis"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    if request.param == "memory":
        with freeze_time() as frozen:
            yield Stores(lambda: SessionStore(ttl=600), 600, lambda s: frozen.tick(s))
        return
    # Redis expires entries on its own clock: real time, with a TTL short enough to wait out
    redis: OwnRedis = request.getfixturevalue("redis")
    made: list[RedisSessionStore] = []

    def make() -> Sessions:
        # a prefix of its own: the tests never see each other's sessions in the one Redis
        store = RedisSessionStore.connect(
            redis.url, redis.password, os.urandom(32), 1.0, prefix=secrets.token_hex(6)
        )
        made.append(store)
        return store

    yield Stores(make, 1.0, time.sleep)
    for store in made:
        store.close_client()


def refused(code: Code, call: Callable[..., object], *args: object) -> None:
    with pytest.raises(CenterError) as caught:
        call(*args)
    assert caught.value.code is code


def verified(store: Sessions) -> str:
    sid = store.open("K0001").id
    assert store.release(store.claim(sid, "K0001", Step.CARD), NUMBER)
    return sid


def wiped_in_memory(store: Sessions, number: str | None) -> None:
    """This process's store also wipes the number from the session object it handed out;
    the shared store never had one here beyond the call (``Session`` is a copy)."""
    if isinstance(store, SessionStore):
        assert number is None


def test_a_step_in_flight_makes_every_other_step_busy(stores: Stores) -> None:
    store = stores.make()
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


def test_a_card_after_the_verified_one_is_a_replay_that_ends_the_session(stores: Stores) -> None:
    store = stores.make()
    sid = verified(store)
    session = store.get(sid, "K0001")
    refused(Code.CARD_REPLAYED, store.claim, sid, "K0001", Step.CARD)
    wiped_in_memory(store, session.my_number)
    refused(Code.SESSION_UNKNOWN, store.get, sid, "K0001")


def test_a_card_while_eligibility_is_in_flight_is_still_a_replay(stores: Stores) -> None:
    store = stores.make()
    sid = verified(store)
    store.claim(sid, "K0001", Step.ELIGIBILITY)
    refused(Code.CARD_REPLAYED, store.claim, sid, "K0001", Step.CARD)
    refused(Code.SESSION_UNKNOWN, store.get, sid, "K0001")


def test_nothing_but_the_card_before_the_card_is_verified(stores: Stores) -> None:
    store = stores.make()
    sid = store.open("K0001").id
    refused(Code.SESSION_STATE, store.claim, sid, "K0001", Step.ELIGIBILITY)
    refused(Code.SESSION_STATE, store.claim, sid, "K0001", Step.ISSUE)
    store.claim(sid, "K0001", Step.CARD)  # those refusals claimed nothing


def test_a_step_that_raises_releases_the_session(stores: Stores) -> None:
    store = stores.make()
    sid = verified(store)
    with pytest.raises(CenterError), store.step(sid, "K0001", Step.ELIGIBILITY):
        raise CenterError(Code.VRS_UNAVAILABLE, "VRS is down")
    assert store.claim(sid, "K0001", Step.ELIGIBILITY).my_number == NUMBER  # try again


def test_a_cancel_during_a_step_wipes_and_the_release_puts_nothing_back(stores: Stores) -> None:
    store = stores.make()
    sid = store.open("K0001").id
    card = store.claim(sid, "K0001", Step.CARD)
    store.close(sid)  # the kiosk cancels while the card is verified
    assert not store.release(card, NUMBER)
    wiped_in_memory(store, card.session.my_number)
    assert len(store) == 0
    refused(Code.SESSION_UNKNOWN, store.get, sid, "K0001")


def test_a_session_expiring_during_a_step_is_wiped(stores: Stores) -> None:
    store = stores.make()
    sid = verified(store)
    eligibility = store.claim(sid, "K0001", Step.ELIGIBILITY)
    stores.tick(stores.ttl * 1.2)
    assert len(store) == 0  # swept although a step is in flight
    wiped_in_memory(store, eligibility.session.my_number)
    assert not store.release(eligibility)
    refused(Code.SESSION_EXPIRED, store.claim, sid, "K0001", Step.ISSUE)


def test_an_expired_or_foreign_session_cannot_be_claimed(stores: Stores) -> None:
    store = stores.make()
    sid = verified(store)
    refused(Code.SESSION_UNKNOWN, store.claim, sid, "K0002", Step.ISSUE)
    stores.tick(stores.ttl * 1.2)
    refused(Code.SESSION_EXPIRED, store.claim, sid, "K0001", Step.ISSUE)
    refused(Code.SESSION_UNKNOWN, store.claim, sid, "K0001", Step.ISSUE)


def test_the_store_says_which_sessions_it_still_holds(stores: Stores) -> None:
    """What the kiosk tests ask of the center after a visit: is that session gone?"""
    store = stores.make()
    kept, closed, expiring = (store.open("K0001").id for _ in range(3))
    store.close(closed)
    assert (kept in store, closed in store, "made-up" in store) == (True, False, False)
    stores.tick(stores.ttl * 0.5)
    expiring_later = store.open("K0001").id
    stores.tick(stores.ttl * 0.6)  # the first three expired; the fourth has 0.4 TTL left
    assert (kept in store, expiring in store, expiring_later in store) == (False, False, True)
