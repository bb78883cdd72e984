"""The long-lived card emulator's control socket (`card emulate --control`), against a fake vpcd.

Inserting, switching and removing cards by a line of JSON, and a clear error for
every bad request on a channel that stays usable. The real pcscd path is
tests/test_demo.py.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from card_reader.softcard import CardState, DevCardIssuer, Profile
from card_reader.softcard.slot import MAX_LINE, CardShelf, CardSlot, ControlServer, request

from .test_vpcd_bridge import SELECT_TEXT_AP, TRIES_QUERY, FakeVpcd


@pytest.fixture
def fake_vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


@pytest.fixture
def control(
    tmp_path: Path, issuer: DevCardIssuer, fake_vpcd: FakeVpcd
) -> Iterator[tuple[Path, CardSlot]]:
    slot = CardSlot(port=fake_vpcd.port, retry_interval=0.05)
    server = ControlServer(tmp_path / "c.sock", slot, CardShelf(issuer))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.path, slot
    server.shutdown()
    server.server_close()
    slot.remove()


def card_files(
    tmp_path: Path, card_key: rsa.RSAPrivateKey, name: str, tries: int
) -> dict[str, str]:
    """A profile and a state file (the session's card key: no key generation)."""
    profile = tmp_path / f"{name}.json"
    profile.write_text(json.dumps(Profile.demo().__dict__))
    state = tmp_path / f"{name}-state.json"
    CardState(card_key, tries, state).save()
    return {"profile": str(profile), "state": str(state)}


def test_insert_switch_and_remove(
    control: tuple[Path, CardSlot],
    fake_vpcd: FakeVpcd,
    tmp_path: Path,
    card_key: rsa.RSAPrivateKey,
) -> None:
    sock, _ = control
    assert request(sock, {"op": "status"}) == {"ok": True, "inserted": None}

    first = card_files(tmp_path, card_key, "resident-001", tries=3)
    assert request(sock, {"op": "insert", **first}) == {"ok": True, "inserted": "resident-001"}
    fake_vpcd.accept()
    assert fake_vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert fake_vpcd.transmit(TRIES_QUERY) == b"\x63\xc3"

    # switching: the first card leaves (vpcd sees its link close), the second comes in
    old = fake_vpcd.conn
    second = card_files(tmp_path, card_key, "resident-002", tries=2)
    assert request(sock, {"op": "insert", **second})["inserted"] == "resident-002"
    assert old is not None and old.recv(1) == b""
    fake_vpcd.accept()
    assert fake_vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert fake_vpcd.transmit(TRIES_QUERY) == b"\x63\xc2"  # the second card's own PIN counter
    assert request(sock, {"op": "status"})["inserted"] == "resident-002"

    assert request(sock, {"op": "remove"}) == {"ok": True, "inserted": None}
    assert fake_vpcd.at_eof()
    assert request(sock, {"op": "status"})["inserted"] is None


def test_a_card_comes_back_after_vpcd_restarts(
    control: tuple[Path, CardSlot],
    fake_vpcd: FakeVpcd,
    tmp_path: Path,
    card_key: rsa.RSAPrivateKey,
) -> None:
    sock, _ = control
    request(sock, {"op": "insert", **card_files(tmp_path, card_key, "r", tries=3)})
    fake_vpcd.accept()
    assert fake_vpcd.conn is not None
    fake_vpcd.conn.close()  # pcscd restarts
    fake_vpcd.accept()
    assert fake_vpcd.transmit(SELECT_TEXT_AP) == b"\x90\x00"
    assert request(sock, {"op": "status"})["inserted"] == "r"


def test_bad_requests_get_a_clear_error_and_the_channel_stays_up(
    control: tuple[Path, CardSlot], tmp_path: Path
) -> None:
    sock, _ = control
    bad = [
        (b"not json\n", "not_json"),
        (b"\xff\xfe\n", "not_json"),
        (b"[1, 2]\n", "unknown_op"),
        (b'{"op": "format"}\n', "unknown_op"),
        (b'{"op": "insert"}\n', "bad_request"),
        (b'{"op": "insert", "profile": 1, "state": "x"}\n', "bad_request"),
        (
            json.dumps(
                {"op": "insert", "profile": str(tmp_path / "none.json"), "state": "s"}
            ).encode()
            + b"\n",
            "no_profile",
        ),
        (b"{" + b" " * MAX_LINE + b"}\n", "too_long"),
    ]
    bad_profile = tmp_path / "bad.json"
    bad_profile.write_text(json.dumps({**Profile.demo().__dict__, "my_number": "123"}))
    bad.append(
        (
            json.dumps({"op": "insert", "profile": str(bad_profile), "state": "s"}).encode()
            + b"\n",
            "bad_profile",
        )
    )
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sock))
        f = s.makefile("rb")
        for line, code in bad:
            s.sendall(line)
            reply = json.loads(f.readline())
            if code == "too_long":
                # the rest of the long line is read as a next request: it is not JSON
                assert reply["error"] == code, reply
                assert json.loads(f.readline())["error"] == "not_json"
            else:
                assert reply["error"] == code, (line, reply)
            assert reply["ok"] is False and reply["message"]
            assert "123" not in reply["message"]  # a refused value is never echoed
        s.sendall(b'{"op": "status"}\n')
        assert json.loads(f.readline()) == {"ok": True, "inserted": None}
