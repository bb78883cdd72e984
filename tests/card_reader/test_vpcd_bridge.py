"""The vpcd wire protocol of the bridge, against a fake vpcd on 127.0.0.1.

The fake behaves like vsmartcard's vpcd: it listens, the card connects, and it
writes each frame's length and body with two send() calls and Nagle on. The
real pcscd + vpcd path is tested separately (``pcsc`` marker).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_reader.softcard import EndReason, FaultyCard, Profile, VpcdBridge, run_emulator

from .conftest import CardFactory

SELECT_TEXT_AP = bytes.fromhex("00A4040C0AD3921000310001010408")
TRIES_QUERY = bytes.fromhex("00200091")
ATR = bytes.fromhex("3BE000FF8131FE4514")


class FakeVpcd:
    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = 5.0) -> socket.socket:
        self.server.settimeout(timeout)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(timeout)
        return self.conn

    def send(self, payload: bytes, split: bool = True) -> None:
        assert self.conn is not None
        header = len(payload).to_bytes(2, "big")
        if split:  # as vpcd 0.8 does: the length, then the body
            self.conn.sendall(header)
            self.conn.sendall(payload)
        else:
            self.conn.sendall(header + payload)

    def recv_exact(self, n: int) -> bytes:
        assert self.conn is not None
        out = b""
        while len(out) < n:
            chunk = self.conn.recv(n - len(out))
            if not chunk:
                raise EOFError(f"card side closed after {len(out)} of {n} bytes")
            out += chunk
        return out

    def recv_frame(self) -> bytes:
        size = int.from_bytes(self.recv_exact(2), "big")
        assert size > 0, "the card side must never send an empty frame"
        return self.recv_exact(size)

    def transmit(self, apdu: bytes, split: bool = True) -> bytes:
        self.send(apdu, split)
        return self.recv_frame()

    def control(self, code: int) -> None:
        self.send(bytes([code]))

    def at_eof(self) -> bool:
        assert self.conn is not None
        return self.conn.recv(1) == b""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


class Served:
    """A bridge serving in a background thread."""

    def __init__(self, bridge: VpcdBridge, stop: threading.Event | None = None) -> None:
        self.bridge = bridge
        self.stop = stop
        self.reason: EndReason | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.reason = self.bridge.serve(self.stop)

    def join(self, timeout: float = 5.0) -> EndReason | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "serve() did not return"
        return self.reason


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


def insert(card: object, vpcd: FakeVpcd, stop: threading.Event | None = None) -> Served:
    bridge = VpcdBridge(card, port=vpcd.port, poll_interval=0.05)  # type: ignore[arg-type]
    bridge.connect(timeout=2)
    vpcd.accept()
    return Served(bridge, stop)


def test_control_codes_and_apdus(card: CardFactory, vpcd: FakeVpcd) -> None:
    served = insert(card(), vpcd)
    vpcd.control(0x04)
    assert vpcd.recv_frame() == ATR
    vpcd.control(0x01)  # power on: no answer
    vpcd.control(0x02)  # reset: no answer
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert vpcd.transmit(TRIES_QUERY) == b"\x63\xc3"
    vpcd.control(0x00)  # power off, then on again: the session is gone
    vpcd.control(0x01)
    assert vpcd.transmit(bytes.fromhex("00B0840004")) == b"\x6a\x82"
    vpcd.control(0x04)
    assert vpcd.recv_frame() == ATR
    served.bridge.remove()
    assert served.join() is EndReason.REMOVED
    assert vpcd.at_eof()


def test_frames_split_and_coalesced(card: CardFactory, vpcd: FakeVpcd) -> None:
    served = insert(card(), vpcd)
    # two frames in one segment, then one frame trickling in byte by byte
    vpcd.send(SELECT_TEXT_AP, split=False)
    assert vpcd.conn is not None
    vpcd.conn.sendall(len(TRIES_QUERY).to_bytes(2, "big") + TRIES_QUERY)
    assert vpcd.recv_frame() == b"\x90\x00"
    assert vpcd.recv_frame() == b"\x63\xc3"
    frame = len(TRIES_QUERY).to_bytes(2, "big") + TRIES_QUERY
    for b in frame:
        vpcd.conn.sendall(bytes([b]))
        time.sleep(0.002)
    assert vpcd.recv_frame() == b"\x63\xc3"
    served.bridge.remove()
    served.join()


def test_round_trip_is_not_stalled_by_delayed_acks(card: CardFactory, vpcd: FakeVpcd) -> None:
    """vpcd's split writes meet Nagle + delayed ACK: ~40 ms per APDU unless the bridge
    acknowledges at once (TCP_QUICKACK) and writes each frame in one piece (TCP_NODELAY)."""
    served = insert(card(), vpcd)
    vpcd.transmit(SELECT_TEXT_AP)
    read = bytes.fromhex("00B0850000")
    times = []
    for _ in range(200):
        start = time.perf_counter()
        vpcd.transmit(read)
        times.append(time.perf_counter() - start)
    served.bridge.remove()
    served.join()
    assert statistics.median(times) < 0.005, f"median {statistics.median(times) * 1e3:.1f} ms"


def test_vpcd_closing_is_vpcd_gone(card: CardFactory, vpcd: FakeVpcd) -> None:
    served = insert(card(), vpcd)
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert vpcd.conn is not None
    vpcd.conn.sendall(b"\x00")  # half a length, then gone
    vpcd.conn.close()
    assert served.join() is EndReason.VPCD_GONE
    assert not served.bridge.inserted


def test_stop_event_ends_serving_and_removes_the_card(card: CardFactory, vpcd: FakeVpcd) -> None:
    stop = threading.Event()
    served = insert(card(), vpcd, stop)
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    stop.set()
    assert served.join() is EndReason.STOPPED
    assert vpcd.at_eof()


def test_a_pulled_card_closes_the_link(card: CardFactory, vpcd: FakeVpcd) -> None:
    served = insert(FaultyCard(card(), remove_at=2), vpcd)
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    vpcd.send(TRIES_QUERY)
    assert vpcd.at_eof()  # no answer: the card is gone
    assert served.join() is EndReason.REMOVED


class _Broken:
    atr = ATR

    def __init__(self, answer: bytes | Exception) -> None:
        self.answer = answer

    def power_on(self) -> bytes:
        return ATR

    def power_off(self) -> None:
        pass

    def reset(self) -> bytes:
        return ATR

    def execute(self, apdu: bytes) -> bytes:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize("answer", [b"", RuntimeError("card bug")])
def test_no_answer_becomes_6f00_never_an_empty_frame(vpcd: FakeVpcd, answer: object) -> None:
    served = insert(_Broken(answer), vpcd)  # type: ignore[arg-type]
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x6f\x00"
    served.bridge.remove()
    served.join()


def test_garbage_is_passed_through(card: CardFactory, vpcd: FakeVpcd) -> None:
    served = insert(FaultyCard(card(), garbage_at=1), vpcd)
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90"
    assert vpcd.transmit(TRIES_QUERY) == b"\x63\xc3"
    served.bridge.remove()
    served.join()


def test_connect_fails_cleanly_without_vpcd(card: CardFactory, vpcd: FakeVpcd) -> None:
    port = vpcd.port
    vpcd.close()
    with pytest.raises(OSError):
        VpcdBridge(card(), port=port).connect(timeout=1)


def test_serve_needs_a_card_in_the_reader(card: CardFactory) -> None:
    with pytest.raises(RuntimeError, match="not inserted"):
        VpcdBridge(card()).serve()


def test_run_emulator_reinserts_after_vpcd_restarts(
    instance_dir: Path, vpcd: FakeVpcd, tmp_path: Path
) -> None:
    stop = threading.Event()
    ready: list[Profile] = []
    thread = threading.Thread(
        target=run_emulator,
        kwargs={
            "profile_path": None,
            "state_path": tmp_path / "state.json",
            "instance_dir": instance_dir,  # the session issuer: no key generation here
            "port": vpcd.port,
            "stop_event": stop,
            "on_ready": ready.append,
            "retry_interval": 0.05,
        },
        daemon=True,
    )
    thread.start()
    vpcd.accept(timeout=10)
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert vpcd.conn is not None
    vpcd.conn.close()  # pcscd restarts
    vpcd.accept(timeout=5)  # and the card comes back by itself
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert vpcd.transmit(TRIES_QUERY) == b"\x63\xc3"
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert vpcd.at_eof()
    assert ready == [Profile.demo(), Profile.demo()]


def test_run_emulator_waits_for_vpcd(instance_dir: Path) -> None:
    # a port nobody listens on: the emulator keeps trying until stopped
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(
        target=run_emulator,
        args=(None, None, instance_dir, "127.0.0.1", port, stop),
        kwargs={"retry_interval": 0.02},
        daemon=True,
    )
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_a_t0_card_on_the_wire_and_a_reset_from_vpcd(card: CardFactory, vpcd: FakeVpcd) -> None:
    """What pcscd hands vpcd from a T=0 card (FaultyCard(t0=True)): its ATR, 61 xx for an
    answer with data and the data to GET RESPONSE; vpcd's reset (02) drops the session, the
    verified PIN and an answer still waiting."""
    served = insert(FaultyCard(card(), t0=True), vpcd)
    vpcd.control(0x04)
    assert vpcd.recv_frame() == bytes.fromhex("3B00")
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert vpcd.transmit(bytes.fromhex("002000910431323334")) == b"\x90\x00"
    assert vpcd.transmit(bytes.fromhex("00B0810000")) == b"\x6c\x11"  # EF 0001 has 17 bytes
    sign = bytes.fromhex("802A000033") + bytes(19) + bytes(32) + b"\x00"
    assert vpcd.transmit(sign) == b"\x61\x00"  # 256 bytes of signature waiting
    vpcd.control(0x02)
    assert vpcd.transmit(bytes.fromhex("00C0000000")) == b"\x6a\x82"  # nothing waits now
    assert vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert vpcd.transmit(bytes.fromhex("00B0810011")) == b"\x69\x82"  # the PIN is gone
    served.bridge.remove()
    assert served.join() is EndReason.REMOVED
