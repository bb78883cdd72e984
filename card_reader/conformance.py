"""`kiosk-sim card conformance`: how the card in a reader differs from the software card.

Every check sends the same APDUs to the card under test and to an in-memory
``SoftCard`` in the same state (same PIN tries left, same PIN outcome): the
software card's answer is the model, so the model cannot drift from it. Only
status words and lengths are compared and reported, never a file's content.

PIN tries: nothing is spent unless the caller allows ``pin_tries``, and never
the last one (the tries left are read first, with VERIFY without data). Each
VERIFY with data sent to the card counts as spent, even where the software card
would not spend one, because a real card might.

Runs on any ``Transport``: PC/SC for a real reader, in memory for fast tests.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .apdu import ApduChannel, Response, command
from .errors import CardError
from .files import AID as TEXT_AID
from .files import EF_PIN
from .softcard.card import CARD_FACE_AID, JPKI_AID, JUKI_AID, SoftCard
from .softcard.issuer import DevCardIssuer
from .softcard.profile import MAX_PIN_TRIES, CardState, Profile
from .transport import InMemoryTransport, Transport

SCHEMA = "kiosk-sim/card-conformance/1"
APPS = {"text": TEXT_AID, "jpki": JPKI_AID, "face": CARD_FACE_AID, "juki": JUKI_AID}
APP_TITLES = {
    "text": "券面事項入力補助AP",
    "jpki": "JPKI-AP",
    "face": "券面事項確認AP",
    "juki": "住基AP",
}
TEXT_EFS = (0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0007, 0x0011, 0x0013)
PROTECTED = (0x0001, 0x0002, 0x0003, 0x0007)
FREE = (("text", 0x0004), ("text", 0x0005), ("jpki", 0x0006))
VERIFY_BY_SFI = 0x80 | EF_PIN  # VERIFY P2 naming the PIN EF by its SFI, as the client does

AskPin = Callable[[int], str]


class Verdict(StrEnum):
    AGREE = "agree"
    DIFFER = "differ"
    NOT_TRIED = "not_tried"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    model: str
    observed: str
    verdict: Verdict


@dataclass(frozen=True)
class Report:
    reader: str | None
    atr: bytes
    protocol: str | None
    pin_tries_left_before: int | None
    pin_tries_left_after: int | None
    pin_tries_spent: int
    checks: list[Check] = field(default_factory=list)

    def count(self, verdict: Verdict) -> int:
        return sum(c.verdict is verdict for c in self.checks)

    @property
    def differing(self) -> list[str]:
        return [c.id for c in self.checks if c.verdict is Verdict.DIFFER]

    @property
    def exit_code(self) -> int:
        return 1 if self.differing else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "reader": self.reader,
            "atr": self.atr.hex(" ").upper(),
            "protocol": self.protocol,
            "pin_tries_left_before": self.pin_tries_left_before,
            "pin_tries_left_after": self.pin_tries_left_after,
            "pin_tries_spent": self.pin_tries_spent,
            "checks": [
                {
                    "id": c.id,
                    "title": c.title,
                    "model": c.model,
                    "observed": c.observed,
                    "verdict": c.verdict.value,
                }
                for c in self.checks
            ],
            "summary": {v.value: self.count(v) for v in Verdict} | {"total": len(self.checks)},
        }

    def to_markdown(self) -> str:
        tries = f"{self.pin_tries_left_before} → {self.pin_tries_left_after}"
        lines = [
            f"reader: {self.reader or '(in memory)'}  protocol: {self.protocol or 'none'}  "
            f"PIN tries left: {tries} (spent {self.pin_tries_spent})",
            "",
            "| id | check | model (software card) | observed | verdict |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {c.id} | {c.title} | {c.model} | {c.observed} | {c.verdict.value} |"
            for c in self.checks
        ]
        lines += [
            "",
            f"{self.count(Verdict.AGREE)} agree, {self.count(Verdict.DIFFER)} differ, "
            f"{self.count(Verdict.NOT_TRIED)} not tried",
        ]
        return "\n".join(lines)


# --- APDUs -------------------------------------------------------------------


def select_app(aid: bytes, p2: int = 0x0C, cla: int = 0x00) -> bytes:
    return command(cla, 0xA4, 0x04, p2, aid, le=None if p2 == 0x0C else 256)


def select_ef(fid: int, p2: int = 0x0C) -> bytes:
    return command(0x00, 0xA4, 0x02, p2, fid.to_bytes(2, "big"), le=None if p2 == 0x0C else 256)


def read(offset: int, le: int = 256) -> bytes:
    return command(0x00, 0xB0, offset >> 8, offset & 0xFF, le=le)


def read_sfi(sfi: int, le: int = 256) -> bytes:
    return command(0x00, 0xB0, 0x80 | sfi, 0x00, le=le)


def verify(p2: int, pin: bytes = b"", p1: int = 0x00) -> bytes:
    return command(0x00, 0x20, p1, p2, pin)


@dataclass(frozen=True)
class Step:
    """One APDU of a check; ``model_apdu`` when the model's differs (an offset in its own file)."""

    label: str
    apdu: bytes
    model_apdu: bytes | None = None


def _show(label: str, r: Response) -> str:
    return f"{label} → {r.sw:04X}" + (f" ({len(r.data)} B)" if r.data else "")


def _historical(atr: bytes) -> str:
    from smartcard.ATR import ATR  # pyscard's ATR parser (pure Python, no pcscd needed)

    try:
        hist = bytes(ATR(list(atr)).getHistoricalBytes())
    except Exception:  # pyscard raises its own and plain errors for malformed ATRs
        return "ATR not parseable"
    return hist.hex(" ").upper() if hist else "none"


def _wrong_pin(pin: str) -> str:
    return str((int(pin[0]) + 1) % 10) + pin[1:]


def model_card(pin: str, tries_left: int) -> SoftCard:
    """The software card as the model: demo holder, a throw-away key, ``tries_left``.

    One RSA key plays the issuer's two and the card's own: only the files' sizes and
    the card's answers matter here, and a key takes ~50 ms of the probe's second.
    """
    key = rsa.generate_private_key(65537, 2048)
    profile = dataclasses.replace(Profile.demo(), pin=pin)
    return SoftCard.personalized(profile, DevCardIssuer(key, key), CardState(key, tries_left))


class _Session:
    def __init__(self, transport: Transport, model: SoftCard) -> None:
        self.transport = transport
        self.card = ApduChannel(transport)
        self.model = ApduChannel(InMemoryTransport(model))
        self.model_card = model
        self.checks: list[Check] = []
        self.sizes: dict[tuple[str, int], tuple[int | None, int | None]] = {}

    def add(self, id: str, title: str, model: str, observed: str, verdict: Verdict) -> None:
        self.checks.append(Check(id, title, model, observed, verdict))

    def run(self, id: str, title: str, steps: Sequence[Step]) -> None:
        seen: list[Response] = []
        model: list[Response] = []
        for s in steps:
            seen.append(self.card.send(s.apdu))
            model.append(self.model.send(s.model_apdu or s.apdu))
        same = all(
            o.sw == m.sw and len(o.data) == len(m.data) for o, m in zip(seen, model, strict=True)
        )
        self.add(
            id,
            title,
            "; ".join(_show(s.label, m) for s, m in zip(steps, model, strict=True)),
            "; ".join(_show(s.label, o) for s, o in zip(steps, seen, strict=True)),
            Verdict.AGREE if same else Verdict.DIFFER,
        )

    def not_tried(self, id: str, title: str, why: str) -> None:
        self.add(id, title, "—", f"not tried: {why}", Verdict.NOT_TRIED)


def _file_size(ch: ApduChannel, aid: bytes, fid: int) -> int | None:
    """A free file's size, read in 256-byte pieces until an answer comes short."""
    if ch.send(select_app(aid)).sw != 0x9000 or ch.send(select_ef(fid)).sw != 0x9000:
        return None
    size = 0
    while size <= 0x7FFF:
        r = ch.send(read(size))
        size += len(r.data)
        if r.sw not in (0x9000, 0x6282) or len(r.data) < 256:
            break
    return size or None


def _tries_left(ch: ApduChannel) -> int | None:
    """VERIFY without data: the tries left, spending none (None: the card did not say)."""
    if ch.send(select_app(TEXT_AID)).sw != 0x9000:
        return None
    r = ch.send(verify(VERIFY_BY_SFI))
    if r.sw & 0xFFF0 == 0x63C0:
        return r.sw & 0x0F
    return 0 if r.sw == 0x6984 else None


def run_conformance(
    transport: Transport,
    *,
    reader: str | None = None,
    pin_tries: int = 0,
    ask_pin: AskPin | None = None,
) -> Report:
    """The whole session against the card behind ``transport``; see the module doc.

    ``ask_pin(tries_left)`` is called only when a try may be spent; a CardError
    from it (no well-formed PIN) leaves the PIN checks not tried.
    """
    protocol = transport.protocol
    card = ApduChannel(transport)
    before = _tries_left(card)
    allowed = min(pin_tries, before - 1) if before is not None else 0
    pin, no_pin_why = None, ""
    if pin_tries <= 0:
        no_pin_why = "no PIN try allowed (--pin-tries N)"
    elif before is None:
        no_pin_why = "the card did not tell its tries left"
    elif allowed <= 0:
        no_pin_why = f"{before} tries left: the last one is never spent"
    elif ask_pin is not None:
        try:
            pin = ask_pin(before)
        except CardError as exc:
            no_pin_why = exc.message
    else:
        no_pin_why = "no PIN given"
    tries = MAX_PIN_TRIES if before is None else min(before, MAX_PIN_TRIES)
    s = _Session(transport, model_card(pin or "1234", tries))
    _atr_checks(s, transport.atr, protocol)
    _select_checks(s)
    _read_checks(s)
    _status_checks(s)
    spent = _pin_checks(s, pin, allowed, no_pin_why)
    after = _tries_left(s.card) if before is not None else None
    return Report(reader, transport.atr, protocol, before, after, spent, s.checks)


def _atr_checks(s: _Session, atr: bytes, protocol: str | None) -> None:
    model_atr = s.model_card.atr
    s.add(
        "atr",
        "ATR",
        model_atr.hex(" ").upper(),
        atr.hex(" ").upper(),
        Verdict.AGREE if atr == model_atr else Verdict.DIFFER,
    )
    mh, oh = _historical(model_atr), _historical(atr)
    s.add(
        "atr.historical",
        "ATR historical bytes",
        mh,
        oh,
        Verdict.AGREE if mh == oh else Verdict.DIFFER,
    )
    if protocol is None:
        s.not_tried("protocol", "protocol negotiated", "in memory: no protocol negotiated")
    else:
        s.add(
            "protocol",
            "protocol negotiated",
            "T=1",
            protocol,
            Verdict.AGREE if protocol == "T=1" else Verdict.DIFFER,
        )
    title = "GET RESPONSE (00 C0) on a T=0 reader"
    if protocol != "T=0":
        why = "not applicable (T=1: answers are whole)" if protocol else "no protocol negotiated"
        s.not_tried("get_response", title, why)
        return
    # Raw, past the channel that would answer 61 xx itself: what the card says to a
    # case-2 command, then to GET RESPONSE with nothing pending. The model is the
    # software card's GET RESPONSE: not implemented (its answers are whole).
    s.card.send(select_app(TEXT_AID))
    s.card.send(select_ef(0x0004))
    raw = s.transport.transmit(read(0))
    gr = s.transport.transmit(command(0x00, 0xC0, 0x00, 0x00, le=256))
    model = s.model.send(command(0x00, 0xC0, 0x00, 0x00, le=256))
    s.add(
        "get_response",
        title,
        _show("GET RESPONSE", model),
        f"READ Le=00 → {raw[-2:].hex().upper()} ({len(raw) - 2} B); "
        f"GET RESPONSE → {gr[-2:].hex().upper()}",
        Verdict.AGREE if gr[-2:] == model.sw.to_bytes(2, "big") else Verdict.DIFFER,
    )


def _select_checks(s: _Session) -> None:
    for name, aid in APPS.items():
        s.run(
            f"select.app.{name}",
            f"SELECT {APP_TITLES[name]} (P2=0C)",
            [Step("SELECT", select_app(aid))],
        )
    text = TEXT_AID
    for p2 in (0x00, 0x04):
        s.run(
            f"select.app.p2_{p2:02x}",
            f"SELECT 券面事項入力補助AP with P2={p2:02X} (FCI/FCP asked)",
            [Step(f"SELECT P2={p2:02X}", select_app(text, p2))],
        )
    s.run(
        "select.app.unknown",
        "SELECT an unknown AID; the selection stays",
        [
            Step("SELECT 券面AP", select_app(text)),
            Step("SELECT unknown", select_app(bytes.fromhex("D3921000310001010499"))),
            Step("READ SFI 04", read_sfi(0x04, 4)),
        ],
    )
    s.run(
        "select.app.partial", "SELECT a truncated AID", [Step("SELECT 7 B", select_app(text[:7]))]
    )
    s.run(
        "select.channel",
        "logical channels: CLA 01, MANAGE CHANNEL open",
        [
            Step("SELECT CLA=01", select_app(text, cla=0x01)),
            Step("MANAGE CHANNEL", command(0x00, 0x70, 0x00, 0x00, le=1)),
        ],
    )
    for fid in TEXT_EFS:
        s.run(
            f"select.ef.text.{fid:04x}",
            f"SELECT EF {fid:04X} by FID (券面事項入力補助AP)",
            [Step("SELECT AP", select_app(text)), Step(f"SELECT {fid:04X}", select_ef(fid))],
        )
    s.run(
        "select.ef.jpki.0006",
        "SELECT EF 0006 by FID (JPKI-AP)",
        [Step("SELECT AP", select_app(JPKI_AID)), Step("SELECT 0006", select_ef(0x0006))],
    )
    s.run(
        "select.ef.unknown",
        "SELECT an unknown EF; an EF in 券面事項確認AP",
        [
            Step("SELECT AP", select_app(text)),
            Step("SELECT 0099", select_ef(0x0099)),
            Step("SELECT 確認AP", select_app(CARD_FACE_AID)),
            Step("SELECT 0004", select_ef(0x0004)),
        ],
    )
    s.run(
        "select.ef.p2_00",
        "SELECT EF with P2=00 (FCI asked)",
        [Step("SELECT AP", select_app(text)), Step("SELECT 0004 P2=00", select_ef(0x0004, 0x00))],
    )


def _read_checks(s: _Session) -> None:
    for app, fid in FREE:
        seen = _file_size(s.card, APPS[app], fid)
        model = _file_size(s.model, APPS[app], fid)
        s.sizes[app, fid] = (seen, model)
        s.add(
            f"read.size.{app}.{fid:04x}",
            f"size of EF {fid:04X} ({APP_TITLES[app]}), read in 256-byte pieces",
            f"{model} B",
            f"{seen} B" if seen is not None else "not readable",
            Verdict.AGREE if seen == model else Verdict.DIFFER,
        )
    text = TEXT_AID
    for fid in (0x0004, 0x0005):
        s.run(
            f"read.sfi.{fid:04x}",
            f"READ BINARY EF {fid:04X} by SFI without SELECT (free)",
            [Step("SELECT AP", select_app(text)), Step(f"READ SFI {fid:02X}", read_sfi(fid, 4))],
        )
    for fid in PROTECTED:
        s.run(
            f"read.sfi.{fid:04x}",
            f"READ BINARY EF {fid:04X} by SFI before the PIN",
            [Step("SELECT AP", select_app(text)), Step(f"READ SFI {fid:02X}", read_sfi(fid))],
        )
    s.run(
        "read.le_00",
        "READ BINARY Le=00 (256 bytes) from EF 0004",
        [
            Step("SELECT AP", select_app(text)),
            Step("SELECT 0004", select_ef(0x0004)),
            Step("READ 0 Le=00", read(0)),
        ],
    )
    seen4, model4 = s.sizes["text", 0x0004]
    seen5, model5 = s.sizes["text", 0x0005]
    edges = "Le past the end / offset at the end / past it"
    if seen4 is None or model4 is None or seen5 is None or model5 is None:
        for id in ("read.le_past_end", "read.offset_at_end"):
            s.not_tried(id, edges, "the size of EF 0004 or 0005 is unknown")
    else:
        s.run(
            "read.le_past_end",
            "READ BINARY with Le past the end (8 bytes before it; EF 0005 from 0)",
            [
                Step("SELECT AP", select_app(text)),
                Step("SELECT 0004", select_ef(0x0004)),
                Step("READ end-8 Le=00", read(seen4 - 8), read(model4 - 8)),
                Step("SELECT 0005", select_ef(0x0005)),
                Step("READ 0 Le=00", read(0)),
            ],
        )
        s.run(
            "read.offset_at_end",
            "READ BINARY at the offset of the end, and past it",
            [
                Step("SELECT AP", select_app(text)),
                Step("SELECT 0004", select_ef(0x0004)),
                Step("READ end", read(seen4, 1), read(model4, 1)),
                Step("READ end+1", read(seen4 + 1, 1), read(model4 + 1, 1)),
            ],
        )
    s.run(
        "read.no_current_ef",
        "READ BINARY by offset with no current EF",
        [Step("SELECT AP", select_app(text)), Step("READ 0", read(0, 4))],
    )
    s.run(
        "read.pin_ef",
        "READ BINARY of the PIN EF 0011",
        [
            Step("SELECT AP", select_app(text)),
            Step("SELECT 0011", select_ef(0x0011)),
            Step("READ 0", read(0, 4)),
        ],
    )
    s.run(
        "verify.query",
        "VERIFY without data by SFI (P2=91), twice: tries left, nothing spent",
        [
            Step("SELECT AP", select_app(text)),
            Step("VERIFY P2=91", verify(VERIFY_BY_SFI)),
            Step("VERIFY P2=91", verify(VERIFY_BY_SFI)),
        ],
    )
    s.run(
        "verify.query.p2_80_pin_ef",
        "VERIFY without data, P2=80 with the PIN EF selected",
        [
            Step("SELECT AP", select_app(text)),
            Step("SELECT 0011", select_ef(0x0011)),
            Step("VERIFY P2=80", verify(0x80)),
        ],
    )
    s.run(
        "verify.query.p2_80_no_pin_ef",
        "VERIFY without data, P2=80 with no EF, then EF 0004, selected",
        [
            Step("SELECT AP", select_app(text)),
            Step("VERIFY P2=80", verify(0x80)),
            Step("SELECT 0004", select_ef(0x0004)),
            Step("VERIFY P2=80", verify(0x80)),
        ],
    )


def _status_checks(s: _Session) -> None:
    text = TEXT_AID
    s.run(
        "status.cla_unknown",
        "unknown CLA (0C secure messaging, A0)",
        [
            Step("SELECT CLA=0C", select_app(text, cla=0x0C)),
            Step("READ CLA=A0", bytes.fromhex("A0B0000004")),
        ],
    )
    s.run(
        "status.cla_wrong_for_ins",
        "known INS under the wrong CLA (80 A4, 00 2A)",
        [
            Step("SELECT CLA=80", select_app(text, cla=0x80)),
            Step("PSO CLA=00", command(0x00, 0x2A, 0x00, 0x00, bytes(51), le=256)),
        ],
    )
    s.run(
        "status.ins_unknown",
        "unknown INS (GET DATA CA, GET CHALLENGE 84)",
        [
            Step("SELECT AP", select_app(text)),
            Step("GET DATA", command(0x00, 0xCA, 0x01, 0x00, le=256)),
            Step("GET CHALLENGE", command(0x00, 0x84, 0x00, 0x00, le=8)),
        ],
    )
    s.run(
        "status.p1p2",
        "wrong P1-P2: SELECT P1=01, READ SFI P1=E4, VERIFY P1=01, PSO P1P2=0080",
        [
            Step("SELECT P1=01", command(0x00, 0xA4, 0x01, 0x0C, text)),
            Step("SELECT AP", select_app(text)),
            Step("READ P1=E4", command(0x00, 0xB0, 0xE4, 0x00, le=4)),
            Step("VERIFY P1=01", verify(VERIFY_BY_SFI, p1=0x01)),
            Step("PSO 00 80", command(0x80, 0x2A, 0x00, 0x80, bytes(51), le=256)),
        ],
    )


def _pin_checks(s: _Session, pin: str | None, allowed: int, why: str) -> int:
    """The checks that spend PIN tries, at most ``allowed``; returns how many were spent."""
    text = TEXT_AID
    titles = {
        "pin.verify": "VERIFY P2=80 with the PIN, PIN EF selected; then the tries left",
        "pin.read_protected": "after the PIN: READ EF 0001 Le=00 (length only), EF 0002 Le=00",
        "security.reselect": "after the PIN: re-SELECT the same application, READ EF 0001",
        "security.switch": "after the PIN: SELECT JPKI-AP and back, READ EF 0001",
        "pin.verify_no_pin_ef": "VERIFY P2=80 with data, EF 0004 selected (may spend a try)",
    }
    if pin is None:
        for id, title in titles.items():
            s.not_tried(id, title, why)
        return 0
    # Card first: the model gets the PIN only if the card took it, a wrong one otherwise,
    # so that both are in the same state (the model cannot know the card's PIN).
    s.card.send(select_app(text))
    s.card.send(select_ef(EF_PIN))
    answer = s.card.send(verify(0x80, pin.encode("ascii")))
    given = pin if answer.sw & 0xFFF0 != 0x63C0 else _wrong_pin(pin)
    s.model.send(select_app(text))
    s.model.send(select_ef(EF_PIN))
    expected = s.model.send(verify(0x80, given.encode("ascii")))
    seen_left, model_left = s.card.send(verify(0x80)), s.model.send(verify(0x80))
    same = (answer.sw, seen_left.sw) == (expected.sw, model_left.sw)
    s.add(
        "pin.verify",
        titles["pin.verify"],
        f"{_show('VERIFY PIN', expected)}; {_show('VERIFY P2=80', model_left)}",
        f"{_show('VERIFY PIN', answer)}; {_show('VERIFY P2=80', seen_left)}",
        Verdict.AGREE if same else Verdict.DIFFER,
    )
    s.run(
        "pin.read_protected",
        titles["pin.read_protected"],
        [Step("READ SFI 01 Le=00", read_sfi(0x01)), Step("READ SFI 02 Le=00", read_sfi(0x02))],
    )
    s.run(
        "security.reselect",
        titles["security.reselect"],
        [Step("SELECT AP", select_app(text)), Step("READ SFI 01", read_sfi(0x01, 4))],
    )
    s.run(
        "security.switch",
        titles["security.switch"],
        [
            Step("SELECT JPKI", select_app(JPKI_AID)),
            Step("SELECT AP", select_app(text)),
            Step("READ SFI 01", read_sfi(0x01, 4)),
        ],
    )
    if allowed < 2:
        s.not_tried(
            "pin.verify_no_pin_ef", titles["pin.verify_no_pin_ef"], "needs a second PIN try"
        )
        return 1
    s.run(
        "pin.verify_no_pin_ef",
        titles["pin.verify_no_pin_ef"],
        [
            Step("SELECT AP", select_app(text)),
            Step("SELECT 0004", select_ef(0x0004)),
            Step("VERIFY P2=80 PIN", verify(0x80, pin.encode("ascii"))),
            Step("VERIFY P2=91", verify(VERIFY_BY_SFI)),
        ],
    )
    return 2


def dumps(report: Report) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)
