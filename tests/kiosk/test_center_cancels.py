"""The kiosk's center client sends session cancels on one long-lived thread, one at a time.

Fast checks with a double of the link underneath (its calls counted and timed); the real
links, slowed and cut by relays, are test_faults.py's F07 and F08.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kiosk import center as center_module
from kiosk.center import CenterClient
from serving import CA, LinkCode, LinkError, Reply

WAIT = 5.0


class FakeLink:
    """The center behind the link: down (no answer), up, or hanging; every call recorded."""

    def __init__(self) -> None:
        self.up = False
        self.hang = threading.Event()  # set: DELETEs wait for `go`
        self.go = threading.Event()
        self.fail_once: Exception | None = None
        self.deletes: list[tuple[str, float, int]] = []  # session ID, when, on which thread
        self.got_through: list[str] = []
        self.missed: list[str] = []  # DELETEs that got no answer
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        if method != "DELETE":
            if not self.up:
                raise LinkError(LinkCode.UNREACHABLE, "ConnectionRefusedError")
            return Reply(201, {"session_id": "new", "challenge": "", "municipalities": []})
        with self._lock:
            self.deletes.append((path.rsplit("/", 1)[1], time.monotonic(), threading.get_ident()))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hang.is_set():
                self.go.wait(WAIT)
            time.sleep(0.005)  # a round trip: long enough for cancels sent together to overlap
            if self.fail_once is not None:
                exc, self.fail_once = self.fail_once, None
                raise exc
            if not self.up:
                self.missed.append(path.rsplit("/", 1)[1])
                raise LinkError(LinkCode.UNREACHABLE, "ConnectionRefusedError")
            self.got_through.append(path.rsplit("/", 1)[1])
            return Reply(204, None)
        finally:
            with self._lock:
                self.in_flight -= 1

    def sent(self, sid: str) -> list[float]:
        with self._lock:
            return [at for s, at, _thread in self.deletes if s == sid]

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def kiosk_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[str, str], str]:
    ca = CA(tmp_path_factory.mktemp("kiosk-ca"), "Kiosk CA (test)")
    cert, key = ca.issue("kiosk-K0001", "K0001")
    return (str(cert), str(key)), str(ca.cert_path)


@pytest.fixture
def client(kiosk_cert: tuple[tuple[str, str], str]) -> Iterator[tuple[CenterClient, FakeLink]]:
    cert, ca = kiosk_cert
    c = CenterClient("https://127.0.0.1:9", cert, ca, timeout=2.0)
    link = FakeLink()
    c._link = link  # type: ignore[assignment]
    c.start()  # as the kiosk's runtime does
    yield c, link
    link.go.set()
    c.close()


@pytest.fixture
def every(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    return lambda seconds: monkeypatch.setattr(center_module, "RETRY_EVERY", seconds)


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_cancel_returns_at_once_even_when_the_center_hangs(
    client: tuple[CenterClient, FakeLink],
) -> None:
    c, link = client
    link.hang.set()
    link.up = True
    t0 = time.monotonic()
    c.cancel("s1")
    assert time.monotonic() - t0 < 0.1  # the visit's end (under the kiosk's lock) never waits
    until(lambda: len(link.sent("s1")) == 1, "the cancel was not sent")
    link.go.set()
    until(lambda: c._cancels.waiting() == 0, "the cancel did not get through")


def test_missed_cancels_are_resent_by_one_thread_one_at_a_time(
    client: tuple[CenterClient, FakeLink], every: Callable[[float], None]
) -> None:
    """The center down with five sessions to cancel: every cancel is resent every RETRY_EVERY,
    all from one thread, never two at once (so they never take the link's pool from a visit)."""
    c, link = client
    every(0.05)
    sids = [f"s{i}" for i in range(5)]
    for sid in sids:
        c.cancel(sid)
    until(lambda: all(len(link.sent(s)) >= 4 for s in sids), "not resent")
    assert link.most_in_flight == 1
    assert len({thread for _s, _at, thread in link.deletes}) == 1
    for sid in sids:  # every RETRY_EVERY, not in a hot loop
        times = link.sent(sid)
        assert min(b - a for a, b in itertools.pairwise(times)) >= 0.045
    link.up = True
    until(lambda: c._cancels.waiting() == 0, "not sent once the center was back")
    time.sleep(0.2)  # (four RETRY_EVERY: nothing is sent again once it got through)
    assert sorted(link.got_through) == sids


def test_a_missed_cancel_goes_at_once_when_the_center_answers_another_call(
    client: tuple[CenterClient, FakeLink], every: Callable[[float], None]
) -> None:
    c, link = client
    every(60.0)  # only the answer to another call can send it again within the test
    c.cancel("s1")
    until(lambda: link.missed == ["s1"], "the cancel was not tried")
    link.up = True
    t0 = time.monotonic()
    c.open_session()  # the next visit's call gets through
    until(lambda: len(link.sent("s1")) == 2, "not resent when the center answered")
    assert time.monotonic() - t0 < 1.0
    until(lambda: c._cancels.waiting() == 0, "not done")


def test_a_cancel_the_center_answers_with_an_error_is_not_resent(
    client: tuple[CenterClient, FakeLink], every: Callable[[float], None]
) -> None:
    """An answer (the session unknown: the center restarted, or expired it) ends the retries."""
    c, link = client
    every(0.05)
    link.up = True
    real = link.request

    def unknown(method: str, path: str, body: Any = None) -> Reply:
        real(method, path, body)
        return Reply(404, {"error": "session_unknown", "message": "no such session"})

    link.request = unknown  # type: ignore[method-assign]
    c.cancel("s1")
    until(lambda: c._cancels.waiting() == 0, "retried")
    time.sleep(0.2)  # (four RETRY_EVERY)
    assert len(link.sent("s1")) == 1


def test_missed_cancels_are_given_up_after_retry_for(
    client: tuple[CenterClient, FakeLink],
    every: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """By then the center has expired the session by itself."""
    c, link = client
    every(0.05)
    monkeypatch.setattr(center_module, "RETRY_FOR", 0.4)
    c.cancel("s1")
    until(lambda: c._cancels.waiting() == 0, "never given up")
    times = link.sent("s1")
    assert len(times) >= 3 and times[-1] - times[0] < 0.4 + 0.05 + 0.2
    time.sleep(0.2)
    assert len(link.sent("s1")) == len(times)


def test_a_cancel_that_failed_unexpectedly_is_retried_and_later_ones_still_go(
    client: tuple[CenterClient, FakeLink],
    every: Callable[[float], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    c, link = client
    every(0.05)
    link.up = True
    link.fail_once = ValueError("123456789018")
    c.cancel("s1")
    until(lambda: c._cancels.waiting() == 0, "not retried after the failure")
    assert len(link.sent("s1")) == 2
    c.cancel("s2")
    until(lambda: len(link.sent("s2")) == 1 and c._cancels.waiting() == 0, "the thread died")
    assert "cancel failed: ValueError" in caplog.text and "123456789018" not in caplog.text


def test_closing_the_client_stops_its_thread(kiosk_cert: tuple[tuple[str, str], str]) -> None:
    cert, ca = kiosk_cert
    c = CenterClient("https://127.0.0.1:9", cert, ca, timeout=2.0)
    c._link = FakeLink()  # type: ignore[assignment]
    c.start()
    c.cancel("s1")
    thread = c._cancels._thread
    assert thread is not None and thread.is_alive()
    c.close()
    thread.join(WAIT)
    assert not thread.is_alive()


def cancel_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kiosk-cancels"]


def test_many_sessions_failing_to_cancel_use_one_thread_until_the_center_is_back(
    client: tuple[CenterClient, FakeLink], every: Callable[[float], None]
) -> None:
    """A hundred visits ended while the center was down: still one thread (and one of the
    link's connections at a time) for all their cancels, each retried, all through once the
    center is back."""
    c, link = client
    every(0.02)
    before = len(cancel_threads())
    sids = [f"s{i}" for i in range(100)]
    for sid in sids:
        c.cancel(sid)
    assert len(cancel_threads()) == before  # not a thread per session (the fixture's one)
    until(lambda: all(len(link.sent(s)) >= 2 for s in sids), "not retried")
    assert c._cancels.waiting() == 100 and link.got_through == []
    link.up = True
    until(lambda: c._cancels.waiting() == 0, "not sent once the center was back")
    assert sorted(link.got_through) == sorted(sids)
    assert len({thread for _s, _at, thread in link.deletes}) == 1
    assert link.most_in_flight == 1


def test_cancels_wait_for_the_start_and_the_queue_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing is sent (and no thread runs) before ``start``; beyond ``limit`` waiting cancels
    one more is dropped with a log line (the center expires it at its TTL) and the rest go."""
    sent: list[str] = []
    cancels = center_module.Canceller(lambda sid: sent.append(sid) is None, limit=3)
    for sid in ("s1", "s2", "s3", "s4", "s1"):
        cancels.add(sid)
    time.sleep(0.05)
    assert sent == [] and cancels._thread is None and cancels.waiting() == 3
    assert "cancel dropped: 3 waiting already" in caplog.text and "s4" not in caplog.text
    cancels.start()
    until(lambda: cancels.waiting() == 0, "not sent once started")
    assert sent == ["s1", "s2", "s3"]
    cancels.stop()
    assert cancels._thread is not None and not cancels._thread.is_alive()
