"""The software My Number Card: a small card OS that answers raw APDUs.

``SoftCard.execute(apdu) -> response data ‖ SW1 SW2``. Handlers raise
``SwError`` and ``execute`` turns it into the status word. Volatile state
(selected application, current EF, verified PIN) lives in ``_Session`` and is
lost on reset and power-off; persistent state (PIN try counter, key 0013)
lives in ``CardState``. Every choice the reference leaves open is listed in
README.md of this package.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..files import AID as TEXT_AP_AID
from .issuer import DevCardIssuer
from .profile import MAX_PIN_TRIES, CardState, Profile

log = logging.getLogger(__name__)

ATR = bytes.fromhex("3BE000FF8131FE4514")  # the contact ATR OpenSC's JPKI driver matches
JPKI_AID = bytes.fromhex("D392F000260100000001")
CARD_FACE_AID = bytes.fromhex("D3921000310001010402")  # 券面事項確認AP
JUKI_AID = bytes.fromhex("D3921000310001010401")  # 住基AP
PIN_FID, KEY_FID = 0x0011, 0x0013
JPKI_TOKEN = b"JPKIAPICCTOKEN2".ljust(32, b" ")  # EF 0006 of the JPKI-AP (length: our guess)
DIGEST_INFO_LEN = 51  # DigestInfo of a SHA-256 digest
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
SIGNATURE_LEN = 256

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_NO_CHANNEL = 0x6881
SW_WRONG_STRUCTURE = 0x6981  # READ BINARY of a PIN or key EF
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6984
SW_NO_CURRENT_EF = 0x6986
SW_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_NO_REFERENCE = 0x6A88  # VERIFY names no PIN
SW_OFFSET = 0x6B00
SW_WRONG_LE = 0x6C00
SW_NO_INS = 0x6D00
SW_NO_CLA = 0x6E00
SW_INTERNAL = 0x6F00


class CardOS(Protocol):
    """What a reader (the vpcd bridge, the in-memory transport) needs of a card."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def reset(self) -> bytes: ...

    def execute(self, apdu: bytes) -> bytes: ...


class SwError(Exception):
    """Ends a command with the status word ``sw``."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


class EfKind(Enum):
    BINARY = "binary"
    PIN = "pin"
    KEY = "key"


@dataclass(frozen=True)
class Ef:
    kind: EfKind
    data: bytes = field(default=b"", repr=False)
    needs_pin: bool = False


@dataclass(frozen=True)
class Application:
    name: str
    aid: bytes
    efs: Mapping[int, Ef]


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None when absent; 00 means 256 (short) or 65536 (extended)


@dataclass
class _Session:
    """Volatile state: gone on reset, power-off and when another application is selected."""

    app: Application | None = None
    ef: int | None = None
    verified: bool = False


def parse_apdu(apdu: bytes) -> Command:
    """Short and extended APDUs (ISO 7816-3 cases 1-4); anything else is ``67 00``."""
    n = len(apdu)
    if n < 4:
        raise SwError(SW_WRONG_LENGTH)
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    data, le = b"", None
    if not body:
        pass
    elif len(body) == 1:
        le = body[0] or 256
    elif body[0] != 0:  # short Lc
        lc = body[0]
        if len(body) == 1 + lc:
            data = body[1:]
        elif len(body) == 2 + lc:
            data, le = body[1:-1], body[-1] or 256
        else:
            raise SwError(SW_WRONG_LENGTH)
    elif len(body) == 3:  # extended Le only
        le = int.from_bytes(body[1:3], "big") or 65536
    else:  # extended Lc
        lc = int.from_bytes(body[1:3], "big")
        rest = body[3:]
        if lc == 0 or len(rest) not in (lc, lc + 2):
            raise SwError(SW_WRONG_LENGTH)
        data = rest[:lc]
        if len(rest) == lc + 2:
            le = int.from_bytes(rest[lc:], "big") or 65536
    return Command(cla, ins, p1, p2, bytes(data), le)


def _check_cla(cla: int) -> None:
    # Only logical channel 0. Channel bits are b2-b1 in the first interindustry
    # format (00-1F, and 80-9F as its proprietary twin); 40-7F address channels 4-19.
    first_format_channel = cla & 0x60 == 0 and cla & 0x03
    if first_format_channel or 0x40 <= cla <= 0x7F:
        raise SwError(SW_NO_CHANNEL)


def _rsa_sign_raw(card_key_numbers: tuple[int, int, int, int, int], block: bytes) -> bytes:
    """The card's private RSA operation on an already padded block (CRT).

    A card applies PKCS#1 v1.5 type-1 padding to whatever DigestInfo it gets
    and exponentiates; ``cryptography`` has no raw private operation, so the
    arithmetic is done here. Not side-channel hardened: this is a simulator.
    """
    p, q, dp, dq, qinv = card_key_numbers
    m = int.from_bytes(block, "big")
    s1, s2 = pow(m, dp, p), pow(m, dq, q)
    s = s2 + q * ((qinv * (s1 - s2)) % p)
    return s.to_bytes(SIGNATURE_LEN, "big")


def text_application(files: Mapping[int, bytes], pin: str) -> Application:
    """The 券面事項入力補助AP with its personalized files."""
    protected = {0x0001, 0x0002, 0x0003, 0x0007}
    efs: dict[int, Ef] = {
        fid: Ef(EfKind.BINARY, bytes(data), fid in protected) for fid, data in files.items()
    }
    efs[PIN_FID] = Ef(EfKind.PIN, pin.encode("ascii"))
    efs[KEY_FID] = Ef(EfKind.KEY)
    return Application("券面事項入力補助AP", TEXT_AP_AID, efs)


class SoftCard:
    """A My Number Card in software; see README.md for its behaviour."""

    def __init__(self, files: Mapping[int, bytes], pin: str, state: CardState) -> None:
        self.state = state
        apps = (
            text_application(files, pin),
            Application("JPKI-AP", JPKI_AID, {0x0006: Ef(EfKind.BINARY, JPKI_TOKEN)}),
            Application("券面事項確認AP", CARD_FACE_AID, {}),
            Application("住基AP", JUKI_AID, {}),
        )
        self._apps = {app.aid: app for app in apps}
        nums = state.card_key.private_numbers()
        self._key = (nums.p, nums.q, nums.dmp1, nums.dmq1, nums.iqmp)
        self._session = _Session()
        self._powered = True  # an in-memory card is "in a powered reader" from the start
        self._lock = threading.Lock()  # one command at a time, as on a real card
        self._handlers: dict[int, tuple[int, Callable[[Command], bytes]]] = {
            0xA4: (0x00, self._select),
            0xB0: (0x00, self._read_binary),
            0x20: (0x00, self._verify),
            0x2A: (0x80, self._sign),
        }

    @classmethod
    def personalized(
        cls, profile: Profile, issuer: DevCardIssuer, state: CardState | None = None
    ) -> SoftCard:
        state = state or CardState.new()
        return cls(issuer.personalize(profile, state.card_key.public_key()), profile.pin, state)

    @classmethod
    def from_files(
        cls, profile_path: Path | None, state_path: Path | None, issuer: DevCardIssuer
    ) -> SoftCard:
        """The card of ``profile_path`` (None: the demo holder) with the state of ``state_path``

        (None: a fresh in-memory state; a missing file is created).
        """
        profile = Profile.load(profile_path) if profile_path is not None else Profile.demo()
        return cls.personalized(profile, issuer, CardState.load_or_create(state_path))

    # --- reader side ---------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return ATR

    def power_on(self) -> bytes:
        with self._lock:
            self._powered = True
            self._session = _Session()
        return ATR

    def power_off(self) -> None:
        with self._lock:
            self._powered = False
            self._session = _Session()

    def reset(self) -> bytes:
        """Warm reset: the volatile state goes, the card stays powered."""
        return self.power_on()

    def execute(self, apdu: bytes) -> bytes:
        with self._lock:
            if not self._powered:
                raise RuntimeError("the card is not powered")
            try:
                return self._dispatch(bytes(apdu)) + b"\x90\x00"
            except SwError as exc:
                return exc.sw.to_bytes(2, "big")
            except Exception:
                # a bug in a handler: a real card OS answers 6F 00, never hangs
                log.exception("software card failed on INS %02X", apdu[1] if len(apdu) > 1 else 0)
                return SW_INTERNAL.to_bytes(2, "big")

    def _dispatch(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            raise SwError(SW_WRONG_LENGTH)
        cla, ins = apdu[0], apdu[1]
        _check_cla(cla)
        if cla not in (0x00, 0x80):
            raise SwError(SW_NO_CLA)
        if ins not in self._handlers:
            raise SwError(SW_NO_INS)
        want_cla, handler = self._handlers[ins]
        if cla != want_cla:
            raise SwError(SW_NO_CLA)
        return handler(parse_apdu(apdu))

    # --- commands ------------------------------------------------------------

    def _select(self, c: Command) -> bytes:
        # P2 = 0C (no FCI) only: the reference documents no FCI to return
        if c.p2 != 0x0C:
            raise SwError(SW_WRONG_P1P2)
        s = self._session
        if c.p1 == 0x04:
            if not 1 <= len(c.data) <= 16:
                raise SwError(SW_WRONG_LENGTH)
            app = self._apps.get(c.data)
            if app is None:
                raise SwError(SW_NOT_FOUND)  # a failed SELECT leaves the selection as it was
            if app is s.app:
                s.ef = None  # same application: the verified PIN stays
            else:
                self._session = _Session(app=app)  # another one: security status cleared
            return b""
        if c.p1 == 0x02:
            if len(c.data) != 2:
                raise SwError(SW_WRONG_LENGTH)
            fid = int.from_bytes(c.data, "big")
            if s.app is None or fid not in s.app.efs:
                raise SwError(SW_NOT_FOUND)
            s.ef = fid
            return b""
        raise SwError(SW_WRONG_P1P2)

    def _ef_by_sfi(self, sfi: int) -> Ef:
        s = self._session
        if s.app is None or sfi not in s.app.efs:
            raise SwError(SW_NOT_FOUND)
        return s.app.efs[sfi]

    def _read_binary(self, c: Command) -> bytes:
        if c.data or c.le is None:
            raise SwError(SW_WRONG_LENGTH)
        s = self._session
        if c.p1 & 0x80:
            sfi = c.p1 & 0x1F
            if c.p1 & 0x60 or sfi == 0 or sfi == 0x1F:
                raise SwError(SW_WRONG_P1P2)
            ef = self._ef_by_sfi(sfi)
            s.ef = sfi  # ISO 7816-4: reading by SFI makes that EF the current one
            offset = c.p2
        else:
            if s.app is None or s.ef is None:
                raise SwError(SW_NO_CURRENT_EF)
            ef = s.app.efs[s.ef]
            offset = (c.p1 << 8) | c.p2
        if ef.kind is not EfKind.BINARY:
            raise SwError(SW_WRONG_STRUCTURE)
        if ef.needs_pin and not s.verified:
            raise SwError(SW_SECURITY)
        if offset >= len(ef.data):
            raise SwError(SW_OFFSET)
        return ef.data[offset : offset + c.le]

    def _verify(self, c: Command) -> bytes:
        s = self._session
        if c.p1 != 0x00:
            raise SwError(SW_WRONG_P1P2)
        if c.p2 == 0x80:
            fid = s.ef
        elif 0x81 <= c.p2 <= 0x9E:
            fid = c.p2 & 0x1F
        else:
            raise SwError(SW_WRONG_P1P2)
        ef = s.app.efs.get(fid) if s.app is not None and fid is not None else None
        if ef is None or ef.kind is not EfKind.PIN:
            raise SwError(SW_NO_REFERENCE)
        tries = self.state.tries_left
        if tries == 0:
            raise SwError(SW_BLOCKED)
        if not c.data:
            raise SwError(0x63C0 | tries)  # the query spends nothing
        # Spend the try first and persist it, then compare: pulling the card
        # (or killing the emulator) mid-command never gives a try back.
        self.state.set_tries_left(tries - 1)
        # any length other than 4 simply does not match: a malformed PIN costs a try
        if hmac.compare_digest(c.data, ef.data):
            self.state.set_tries_left(MAX_PIN_TRIES)
            s.verified = True
            return b""
        s.verified = False  # a failed VERIFY also drops an earlier success
        raise SwError(0x63C0 | (tries - 1))

    def _sign(self, c: Command) -> bytes:
        s = self._session
        if c.p1 != 0x00 or c.p2 != 0x00:
            raise SwError(SW_WRONG_P1P2)
        if s.app is None or KEY_FID not in s.app.efs:
            raise SwError(SW_NOT_FOUND)  # key 0013 lives in the 券面事項入力補助AP only
        if len(c.data) != DIGEST_INFO_LEN:
            raise SwError(SW_WRONG_LENGTH)
        if c.le is not None and c.le < SIGNATURE_LEN:
            raise SwError(SW_WRONG_LE)  # 6C 00: re-send with Le = 00 (256)
        if c.data.startswith(SHA256_DIGEST_INFO_PREFIX):
            # Same bytes as the raw operation below (PKCS#1 v1.5 is deterministic),
            # from OpenSSL in about 1 ms instead of 10 ms of Python big-int arithmetic.
            digest = c.data[len(SHA256_DIGEST_INFO_PREFIX) :]
            return self.state.card_key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        # EMSA-PKCS1-v1_5: 00 01 FF..FF 00 ‖ DigestInfo
        block = b"\x00\x01" + b"\xff" * (SIGNATURE_LEN - 3 - len(c.data)) + b"\x00" + c.data
        return _rsa_sign_raw(self._key, block)
