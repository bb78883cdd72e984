"""The real path: pyscard → pcscd → vpcd driver → the software card.

These tests use the second virtual slot ("Virtual PCD 00 01") so that a demo
card someone left in slot 0 is not disturbed. They need pcscd with the vpcd
driver; bin/setup starts it. In CI a missing pcscd fails the run instead of
skipping it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from smartcard import scard

from card_reader import PcscTransport, TextApplication, verify_card
from card_reader.errors import ErrorCode, PinError, TransportError
from card_reader.pcsc import list_readers, wait_for_card_state
from card_reader.softcard import DevCardIssuer, FaultyCard, Profile, VpcdBridge

from .conftest import CardFactory

pytestmark = pytest.mark.pcsc

READER = "Virtual PCD 00 01"
PORT = 0x8C7B + 1
SLOT0 = "Virtual PCD 00 00"  # the demo's slot: used only by the two-slot test, when empty
ROOT = Path(__file__).resolve().parents[2]
PIN = Profile.demo().pin
T0_OR_T1 = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1


@pytest.fixture(scope="module", autouse=True)
def pcscd(test_reader: None) -> None:
    try:
        names = [r.name for r in list_readers()]
    except TransportError as exc:
        names, why = [], exc.message
    else:
        why = f"no {READER!r} reader (readers: {names})"
    if READER not in names:
        if os.environ.get("CI"):
            pytest.fail(f"pcscd with the vpcd driver is needed: {why}")
        pytest.skip(f"pcscd with the vpcd driver is not running ({why}); bin/setup starts it")


def _card_present(reader: str = READER) -> bool:
    try:
        return any(r.name == reader and r.atr for r in list_readers())
    except TransportError:
        return False  # pcscd is away (a fault test restarts it): so is the card


@contextlib.contextmanager
def inserted(card: object, wait: bool = True, slot: int = 1) -> Iterator[VpcdBridge]:
    """The card in the test slot (or ``slot``) for the duration of the block, then removed.

    ``wait=False`` yields at once instead of waiting for pcscd to see the card
    (a fault test may pull it at the kiosk's first APDU).
    """
    reader, port = (READER, PORT) if slot == 1 else (SLOT0, PORT - 1)
    bridge = VpcdBridge(card, port=port)  # type: ignore[arg-type]
    bridge.connect(timeout=5)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while wait and not _card_present(reader):
            assert time.monotonic() < deadline, "pcscd never saw the card"
            time.sleep(0.02)
        yield bridge
    finally:
        stop.set()
        bridge.remove()
        thread.join(5)
        deadline = time.monotonic() + 5
        while _card_present(reader) and time.monotonic() < deadline:
            time.sleep(0.02)


def reset_by_another_program(how: str = "reconnect", reader: str = READER) -> None:
    """What another PC/SC client on the machine can do to a shared card: reset it, with
    SCardReconnect(SCARD_RESET_CARD) or SCardDisconnect(SCARD_RESET_CARD), in its own context."""
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        hresult, handle, _ = scard.SCardConnect(ctx, reader, scard.SCARD_SHARE_SHARED, T0_OR_T1)
        assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
        if how == "reconnect":
            hresult, _ = scard.SCardReconnect(
                handle, scard.SCARD_SHARE_SHARED, T0_OR_T1, scard.SCARD_RESET_CARD
            )
            assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
            hresult = scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
        else:
            hresult = scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
        assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
    finally:
        scard.SCardReleaseContext(ctx)


def test_pcsc_scan_sees_the_software_card(card: CardFactory) -> None:
    with inserted(card()):
        out = subprocess.run(
            ["pcsc_scan", "-c", "-n"], capture_output=True, text=True, timeout=20
        ).stdout
    assert READER in out
    assert "3B E0 00 FF 81 31 FE 45 14" in out


def test_raw_apdu_session_with_plain_pyscard(card: CardFactory, tmp_path: Path) -> None:
    """Written from the reference alone, with pyscard's own high-level API."""
    from smartcard.System import readers

    def run(conn: object, hexapdu: str) -> tuple[bytes, str]:
        data, sw1, sw2 = conn.transmit(list(bytes.fromhex(hexapdu)))  # type: ignore[attr-defined]
        return bytes(data), f"{sw1:02X}{sw2:02X}"

    state = tmp_path / "state.json"
    with inserted(card(state_path=state)):
        reader = next(r for r in readers() if str(r) == READER)
        conn = reader.createConnection()
        conn.connect()
        assert run(conn, "00A4040C0AD3921000310001010408") == (b"", "9000")
        assert run(conn, "00A4020C020011")[1] == "9000"
        assert run(conn, "00200080") == (b"", "63C3")
        assert run(conn, "002000800430303030") == (b"", "63C2")
        assert run(conn, "002000800431323334") == (b"", "9000")
        assert run(conn, "00200080") == (b"", "63C3")
        ef1, sw = run(conn, "00B0810000")
        assert sw == "9000" and len(ef1) == 17 and ef1[:3] == bytes.fromhex("FF100C")
        ef2, sw = run(conn, "00B0820000")
        assert sw == "9000" and ef2[:2] == bytes.fromhex("FF20")
        # EF 0003 (336 bytes) and EF 0004 (568 bytes) in chunks of at most 256
        for sfi, size in ((0x03, 336), (0x04, 568)):
            data, sw = run(conn, f"00B0{0x80 | sfi:02X}0000")
            assert sw == "9000" and len(data) == 256
            while len(data) < size:
                chunk, sw = run(conn, f"00B0{len(data) >> 8:02X}{len(data) & 0xFF:02X}00")
                assert sw == "9000"
                data += chunk
            assert len(data) == size
            assert run(conn, f"00B0{size >> 8:02X}{size & 0xFF:02X}00")[1] == "6B00"
        assert run(conn, "00B0850000")[1] == "9000"
        ef7, sw = run(conn, "00B0870000")
        assert sw == "9000" and ef7[:2] == bytes.fromhex("FF50")
        # lock after 3 wrong PINs; the right one is refused after that
        assert [run(conn, "002000910439393939")[1] for _ in range(3)] == ["63C2", "63C1", "63C0"]
        assert run(conn, "002000910431323334")[1] == "6984"
        assert run(conn, "00200091")[1] == "6984"
        conn.disconnect()
    # the card is taken out and put back in: the lock stays (it lives on the card)
    with inserted(card(state_path=state)):
        conn = next(r for r in readers() if str(r) == READER).createConnection()
        conn.connect()
        assert run(conn, "00A4040C0AD3921000310001010408")[1] == "9000"
        assert run(conn, "00200091")[1] == "6984"
        assert run(conn, "00B0810000")[1] == "6982"
        conn.disconnect()


@pytest.mark.parametrize("timeout", [5.0, None], ids=["guarded", "direct"])
def test_read_and_verify_through_pcscd(
    card: CardFactory, issuer: DevCardIssuer, timeout: float | None
) -> None:
    with inserted(card()), PcscTransport(READER, timeout=timeout) as transport:
        assert transport.atr == bytes.fromhex("3BE000FF8131FE4514")
        app = TextApplication(transport)
        app.select()
        assert app.pin_tries_left() == 3
        app.verify_pin(PIN)
        challenge = os.urandom(32)
        verified = verify_card(
            app.read_card_files(challenge), issuer.trust_store(), expected_challenge=challenge
        )
        assert verified.info.name == Profile.demo().name
        assert verified.presence_checked
        # the protocol minimum: SELECT, tries, VERIFY, 1 + 1 + 2 + 3 + 3 READ BINARY, 1 sign
        assert app.apdu_count == 14


@pytest.mark.measure("M01")
def test_pin_is_required_through_a_real_reader(card: CardFactory) -> None:
    with inserted(card()), PcscTransport(READER) as transport:
        app = TextApplication(transport)
        app.select()
        for read in (app.read_my_number, app.read_basic_info):
            with pytest.raises(PinError) as err:
                read()
            assert err.value.code is ErrorCode.PIN_REQUIRED


@pytest.mark.measure("M30")
def test_lock_after_three_wrong_pins_through_a_real_reader(card: CardFactory) -> None:
    with inserted(card()), PcscTransport(READER) as transport:
        app = TextApplication(transport)
        app.select()
        left = []
        for _ in range(3):
            with pytest.raises(PinError) as err:
                app.verify_pin("9999")
            left.append(err.value.tries_left)
        assert left == [2, 1, 0]
        assert app.pin_tries_left() == 0
        with pytest.raises(PinError) as err:
            app.verify_pin(PIN)
        assert err.value.code is ErrorCode.PIN_BLOCKED


@pytest.mark.parametrize("at", range(1, 15))  # every APDU of a full read
def test_card_removed_mid_read_fails_fast(card: CardFactory, at: int) -> None:
    faulty = FaultyCard(card(), remove_at=at)
    with inserted(faulty) as bridge, PcscTransport(READER, timeout=5) as transport:
        app = TextApplication(transport)
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:
            app.select()
            app.pin_tries_left()
            app.verify_pin(PIN)
            app.read_card_files(b"challenge")
        elapsed = time.monotonic() - t0
        assert err.value.code is ErrorCode.CARD_REMOVED
        assert elapsed < 1.0
        assert not bridge.inserted


def test_a_card_that_stops_answering_times_out(card: CardFactory) -> None:
    slow = FaultyCard(card(), delay=3.0)
    with inserted(slow), PcscTransport(READER, timeout=0.3) as transport:
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:
            TextApplication(transport).select()
        assert err.value.code is ErrorCode.TIMEOUT
        assert time.monotonic() - t0 < 1.0


def test_closing_from_another_thread_while_the_card_goes(card: CardFactory) -> None:
    """The card is pulled mid-APDU and a kiosk's watcher, seeing it go, closes the link while
    the reading thread still asks pcscd about the removal: that thread must still say "card
    removed" (handles freed under it crashed the process, or read as a garbled answer)."""
    with inserted(FaultyCard(card(), remove_at=1)):
        transport = PcscTransport(READER, timeout=5)
        app = TextApplication(transport)
        outcome: list[object] = []

        def select() -> None:
            try:
                app.select()
            except TransportError as exc:
                outcome.append(exc.code)

        reader = threading.Thread(target=select)
        reader.start()
        time.sleep(0.05)  # the SELECT got its empty answer; the removal is being confirmed
        t0 = time.monotonic()
        transport.close()
        assert time.monotonic() - t0 < 0.05  # the closing thread is not held up
        reader.join(5)
        assert outcome == [ErrorCode.CARD_REMOVED]
        with pytest.raises(TransportError) as err:
            app.select()
        assert err.value.code is ErrorCode.NO_CARD  # and the link is closed after it


def test_no_card_in_the_reader_is_a_clear_error() -> None:
    t0 = time.monotonic()
    with pytest.raises(TransportError) as err:
        PcscTransport(READER, wait=0.3)
    assert err.value.code is ErrorCode.NO_CARD
    assert time.monotonic() - t0 < 1.5


def test_waiting_for_a_card_sees_it_arrive(card: CardFactory) -> None:
    result: dict[str, object] = {}

    def wait() -> None:
        try:
            with PcscTransport(READER, wait=5) as transport:
                result["atr"] = transport.atr
        except TransportError as exc:
            result["error"] = exc

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    with inserted(card()):
        waiter.join(5)
    assert result.get("atr") == bytes.fromhex("3BE000FF8131FE4514")


def kiosk_sim(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk_sim.cli", "card", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


def test_cli_readers_and_probe(card: CardFactory) -> None:
    with inserted(card()):
        readers = json.loads(kiosk_sim("readers", "--json").stdout)["readers"]
        assert {
            "name": READER,
            "atr": "3b e0 00 ff 81 31 fe 45 14",
            "device": "Virtual PCD 00",
            "slot": 1,
        } in readers
        probe = json.loads(kiosk_sim("probe", "--reader", READER, "--json").stdout)
        assert probe["mynumber_card"] is True and probe["pin_tries_left"] == 3


def test_cli_read_masks_the_number_and_verifies(
    card: CardFactory, instance_dir: Path, issuer: DevCardIssuer
) -> None:
    trust = DevCardIssuer.trust_store_path(instance_dir)
    assert trust.exists()
    with inserted(card()):
        out = kiosk_sim(
            "read", "--reader", READER, "--json", "--trust", str(trust), stdin=PIN + "\n"
        )
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["my_number"] == "********" + Profile.demo().my_number[-4:]
        assert data["name"] == Profile.demo().name
        assert data["integrity"].startswith("valid")
        shown = kiosk_sim(
            "read",
            "--reader",
            READER,
            "--json",
            "--show-number",
            "--trust",
            str(trust),
            stdin=PIN + "\n",
        )
        assert json.loads(shown.stdout)["my_number"] == Profile.demo().my_number


def test_cli_read_shows_tries_and_guards_the_last_one(card: CardFactory) -> None:
    with inserted(card(tries_left=2)):
        wrong = kiosk_sim("read", "--reader", READER, "--json", stdin="0000\n")
        assert wrong.returncode == 1
        assert json.loads(wrong.stdout) == {
            "ok": False,
            "error": "wrong_pin",
            "message": "wrong PIN; 1 try left",
            "tries_left": 1,
        }
        last = kiosk_sim("read", "--reader", READER, "--json", stdin=PIN + "\n")
        assert json.loads(last.stdout)["error"] == "last_try"
        probe = json.loads(kiosk_sim("probe", "--reader", READER, "--json").stdout)
        assert probe["pin_tries_left"] == 1  # the refusal spent nothing
        ok = kiosk_sim("read", "--reader", READER, "--json", "--last-try", stdin=PIN + "\n")
        assert json.loads(ok.stdout)["name"] == Profile.demo().name


def test_cli_names_the_readers_there_are_when_one_is_not() -> None:
    out = kiosk_sim("probe", "--reader", "nosuch")
    assert out.returncode == 1
    assert out.stderr.startswith("error: no reader named 'nosuch'; readers: ")
    assert repr(READER) in out.stderr  # the test slot, which exists (the fixture checked)
    assert "Traceback" not in out.stderr


def test_cli_read_never_sends_a_malformed_pin(card: CardFactory) -> None:
    with inserted(card()):
        out = kiosk_sim("read", "--reader", READER, "--json", stdin="12345\n")
        assert json.loads(out.stdout)["error"] == "invalid_pin_format"
        assert (
            json.loads(kiosk_sim("probe", "--reader", READER, "--json").stdout)["pin_tries_left"]
            == 3
        )


# --- robustness: a reset by another program, T=0 and T=1, two slots (issue 15, part 5)


@pytest.mark.parametrize("how", ["reconnect", "disconnect"])
def test_a_reset_by_another_program_loses_the_pin_and_is_taken_up_again(
    card: CardFactory, how: str
) -> None:
    with inserted(card()), PcscTransport(READER) as transport:
        app = TextApplication(transport)
        app.select()
        app.verify_pin(PIN)
        reset_by_another_program(how)
        with pytest.raises(TransportError) as err:
            app.read_my_number()
        assert err.value.code is ErrorCode.CARD_RESET
        assert not app.pin_verified
        with pytest.raises(TransportError) as err:  # pcscd keeps refusing the handle
            transport.transmit(bytes.fromhex("00200091"))
        assert err.value.code is ErrorCode.CARD_RESET
        transport.reconnect()
        # vpcd passed the reset on: the card itself lost the PIN (and the application)
        again = TextApplication(transport)
        again.select()
        with pytest.raises(PinError) as pin_err:
            again.read_my_number()
        assert pin_err.value.code is ErrorCode.PIN_REQUIRED
        assert again.pin_tries_left() == 3  # the reset spent no try


def test_a_reset_before_the_pin_is_taken_up_by_the_client(card: CardFactory) -> None:
    with inserted(card()), PcscTransport(READER) as transport:
        app = TextApplication(transport)
        reset_by_another_program()  # before the SELECT
        app.select()
        reset_by_another_program()  # between the SELECT and the tries-left query
        assert app.pin_tries_left() == 3
        app.verify_pin(PIN)
        assert app.read_my_number() == Profile.demo().my_number


def test_a_card_taken_out_between_commands_is_card_removed(card: CardFactory) -> None:
    with inserted(card()) as bridge, PcscTransport(READER) as transport:
        app = TextApplication(transport)
        app.select()
        bridge.remove()
        deadline = time.monotonic() + 5
        while transport.card_present():  # pcscd's next poll: SCARD_W_REMOVED_CARD from then on
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(TransportError) as err:
            app.pin_tries_left()
        assert err.value.code is ErrorCode.CARD_REMOVED
        with pytest.raises(TransportError) as err:
            transport.reconnect()  # no card to take up again
        assert err.value.code is ErrorCode.CARD_REMOVED


@pytest.mark.parametrize(
    ("atr", "t0", "protocol"),
    [
        ("3BE000FF8131FE4514", False, "T=1"),  # the card's own ATR: T=1 only
        ("3B00", True, "T=0"),  # no interface bytes: T=0
        # T=0 and T=1 offered: pcsc-lite prefers T=1 (and 61xx is still collected under it)
        ("3B80800101", True, "T=1"),
    ],
)
def test_the_protocol_the_atr_announces_is_used_and_t0_answers_are_collected(
    card: CardFactory, issuer: DevCardIssuer, atr: str, t0: bool, protocol: str
) -> None:
    faulty = FaultyCard(card(), t0=t0, atr=bytes.fromhex(atr))
    with inserted(faulty), PcscTransport(READER) as transport:
        assert transport.atr == bytes.fromhex(atr)
        assert transport.protocol == protocol
        app = TextApplication(transport)
        app.select()
        assert app.pin_tries_left() == 3
        app.verify_pin(PIN)
        challenge = os.urandom(32)
        verified = verify_card(
            app.read_card_files(challenge), issuer.trust_store(), expected_challenge=challenge
        )
        assert verified.presence_checked
        # under T=0: EF 0001's 6C 11 and the signature's 61 00 each cost one more APDU
        assert app.apdu_count == (16 if t0 else 14)
        assert faulty.count == app.apdu_count  # pcscd and vpcd added or hid nothing


def test_one_card_seen_in_both_slots_of_a_dual_reader(card: CardFactory, tmp_path: Path) -> None:
    """vpcd's two slots stand for the contact and contactless interfaces of one reader, with
    the same card (profile and state) on both. The listing shows both; the whole name reads
    that slot only; a part names the lowest slot; a watcher of one slot sees only that one."""
    if _card_present(SLOT0):
        pytest.skip(f"a card (a demo's?) is in {SLOT0!r}; this test needs it empty")
    state = tmp_path / "state.json"
    with inserted(card(state_path=state), slot=0), inserted(card(state_path=state)) as contactless:
        readers = json.loads(kiosk_sim("readers", "--json").stdout)["readers"]
        ours = [r for r in readers if r["device"] == "Virtual PCD 00"]
        assert [(r["name"], r["slot"]) for r in ours] == [(SLOT0, 0), (READER, 1)]
        assert ours[0]["atr"] == ours[1]["atr"] == "3b e0 00 ff 81 31 fe 45 14"
        text = kiosk_sim("readers").stdout
        assert f"{READER}: 3B E0 00 FF 81 31 FE 45 14  (same ATR as slot 0" in text
        with PcscTransport(READER) as transport:
            assert transport.reader == READER
        with PcscTransport("virtual pcd") as transport:
            assert transport.reader == SLOT0
        contactless.remove()
        assert wait_for_card_state(READER, present=False, timeout=3)
        assert _card_present(SLOT0)  # the other interface still holds the card
