"""Redacted APDU traces: every command and answer of a card session, as JSON lines.

``TraceWriter`` owns the file; ``TracingTransport(transport, writer)`` wraps any
transport and writes a header line (format, reader, ATR, protocol) and then one
line per APDU. ``add_trace_option`` + ``trace_transport`` give a command
``--trace FILE`` in one line each; ``read_trace`` loads a trace for replay
(``softcard/replay.py``), bounded and checked.

What never reaches the file (README of ``softcard``, "APDU traces"): a PIN (only
its length), and any answer data that is not known to be public — only EF 0004
(the CVC) and EF 0005 of the 券面事項入力補助AP and EF 0006 of the JPKI-AP are
written in clear; every other answer's data (EF 0001/0002/0003/0007, signatures,
GET RESPONSE, what an unknown command returned) and every command's data except
SELECT's are written as their length and an HMAC-SHA256 under the tester's key
(``trace_key``), so two traces of one card by one tester can be compared.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from . import files
from .errors import CardError, TraceError
from .transport import Transport

FORMAT = "kiosk-sim-apdu-trace"
VERSION = 1
KEY_FILE = "card-trace.key"
MAX_BYTES = 16 * 1024 * 1024  # a replayed trace is read whole: bound it
MAX_LINES = 100_000

INS_SELECT, INS_VERIFY, INS_READ_BINARY = 0xA4, 0x20, 0xB0
JPKI_AID = bytes.fromhex("D392F000260100000001")
# (application, EF) whose content is public: the CVC, the application info, the JPKI token
CLEAR_FILES = {(files.AID, 0x0004), (files.AID, 0x0005), (JPKI_AID, 0x0006)}


def trace_key(instance: Path) -> bytes:
    """The tester's HMAC key, ``KEY_FILE`` in the instance folder, made 0600 on first use."""
    path = Path(instance) / KEY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = bytes.fromhex(path.read_text().strip())
        else:
            key = secrets.token_bytes(32)
            with os.fdopen(fd, "w") as f:
                f.write(key.hex() + "\n")
    except OSError as exc:
        raise TraceError(f"cannot use the trace key {path}: {exc.strerror}") from None
    except ValueError:
        raise TraceError(f"the trace key {path} is not hex; delete it to make a new one") from None
    if len(key) < 16:
        raise TraceError(f"the trace key {path} is too short; delete it to make a new one")
    return key


def _split(apdu: bytes) -> tuple[bytes, bytes | None, int | None]:
    """(header, data, Le) of a short APDU; data None when the body is not one (kept whole)."""
    head, body = apdu[:4], apdu[4:]
    if not body:
        return head, b"", None
    if len(body) == 1:
        return head, b"", body[0] or 256
    lc = body[0]
    if lc and len(body) == 1 + lc:
        return head, body[1:], None
    if lc and len(body) == 2 + lc:
        return head, body[1:-1], body[-1] or 256
    return head, None, None  # extended or malformed: the whole body is treated as data


def command_fields(apdu: bytes, key: bytes | None) -> dict[str, Any]:
    """The command as written: header in clear; data in clear for SELECT only; a PIN as its
    length alone (a keyed hash of 4 digits falls to 10,000 guesses); other data as length
    and HMAC (``key`` None: length only, the form replay matches on)."""
    head, data, le = _split(apdu)
    out: dict[str, Any] = {"cmd": head.hex()}
    whole = data is None
    data = apdu[4:] if data is None else data
    if data:
        if len(head) == 4 and head[1] == INS_SELECT and not whole:
            out["data"] = data.hex()
        elif key is None or (len(head) == 4 and head[1] == INS_VERIFY):
            out["data"] = {"len": len(data)}
        else:
            out["data"] = {"len": len(data), "hmac": _mac(key, data)}
    if le is not None:
        out["le"] = le
    return out


def _mac(key: bytes, data: bytes) -> str:
    return hmac.digest(key, data, "sha256").hex()


@dataclass
class _Files:
    """Which application and EF the card has current, as far as the trace can tell."""

    app: bytes | None = None
    ef: int | None = None

    def note(self, apdu: bytes, sw: int | None) -> bool:
        """Follows ``apdu``; returns whether its answer data may be written in clear."""
        if len(apdu) < 4 or apdu[0] & 0x7F != 0:
            return False
        ins, p1 = apdu[1], apdu[2]
        _head, data, _le = _split(apdu)
        if ins == INS_SELECT and sw == 0x9000 and data is not None:
            if p1 == 0x04:
                self.app, self.ef = data, None
            elif p1 == 0x02 and len(data) == 2:
                self.ef = int.from_bytes(data, "big")
            return False
        if ins == INS_READ_BINARY:
            if p1 & 0x80:
                self.ef = p1 & 0x1F
            return self.app is not None and (self.app, self.ef) in CLEAR_FILES
        return False


class TraceWriter:
    """The trace file: opened (or refused, ``TraceError``) before any card I/O.

    Lines are written as the APDUs come and flushed at least once a second and whenever
    a traced card link closes: a flush per APDU would cost more than the round trip
    through pcscd itself (``benchmarks/bench_card.py``).
    """

    FLUSH_EVERY = 1.0  # seconds

    def __init__(
        self,
        path: Path,
        key: bytes,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = Path(path)
        self.key = key
        self.clock = clock  # ``clock``, ``wall``: fixed ones make the example traces reproducible
        self.wall = wall
        self._lock = threading.Lock()
        try:
            self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise TraceError(f"cannot write the trace file {path}: {exc.strerror}") from None
        self._start = self._flushed = clock()
        self._n = 0

    def header(self, reader: str | None, atr: bytes, protocol: str | None) -> None:
        line = json.dumps(
            {
                "trace": FORMAT,
                "version": VERSION,
                "reader": reader,
                "atr": atr.hex(),
                "protocol": protocol,
                "started": self.wall().isoformat(timespec="seconds"),
                # which tester key the hashes are under: traces compare only under one key
                "key_id": hashlib.sha256(b"key id" + self.key).hexdigest()[:16],
            },
            separators=(",", ":"),
        )
        with self._lock:
            self._put(line + "\n")
            self.flush()

    def exchange(self, t0: float, t1: float, fields: str) -> None:
        """One APDU's line; ``fields``: its command and answer, already JSON (no braces)."""
        with self._lock:
            self._n += 1
            self._put(
                f'{{"n":{self._n},"t":{round(t0 - self._start, 6)!r},'
                f'"dur_ms":{round((t1 - t0) * 1e3, 3)!r},{fields}}}\n'
            )
            if t1 - self._flushed >= self.FLUSH_EVERY:
                self._flushed = t1
                self.flush()

    def _put(self, line: str) -> None:
        if self._file is not None:
            self._file.write(line)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class TracingTransport(Transport):
    """``inner`` with every APDU written to ``writer``; ``owns_writer``: close it too."""

    def __init__(self, inner: Transport, writer: TraceWriter, *, owns_writer: bool = False):
        self.inner = inner
        self.writer = writer
        self.owns_writer = owns_writer
        self._files = _Files()
        # the JSON of commands without secret data (SELECT, READ BINARY), made once each
        self._commands: dict[bytes, str] = {}
        writer.header(getattr(inner, "reader", None), inner.atr, inner.protocol)

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    @property
    def protocol(self) -> str | None:
        return self.inner.protocol

    @property
    def reader(self) -> str | None:
        return getattr(self.inner, "reader", None)

    def transmit(self, apdu: bytes) -> bytes:
        clock = self.writer.clock
        t0 = clock()
        try:
            resp = self.inner.transmit(apdu)
        except CardError as exc:
            t1 = clock()
            self.writer.exchange(t0, t1, f'{self._command(apdu)},"error":"{exc.code.value}"')
            raise
        t1 = clock()
        self.writer.exchange(t0, t1, self._command(apdu) + self._answer(apdu, resp))
        return resp

    def _command(self, apdu: bytes) -> str:
        text = self._commands.get(apdu)
        if text is None:
            fields = command_fields(apdu, self.writer.key)
            text = json.dumps(fields, separators=(",", ":"))[1:-1]
            if not isinstance(fields.get("data"), dict) and len(self._commands) < 256:
                self._commands[apdu] = text  # no PIN nor other secret is kept as a key
        return text

    def _answer(self, apdu: bytes, resp: bytes) -> str:
        if len(resp) < 2:  # not even a status word: kept as it came (a byte carries nothing)
            return f',"sw":null,"resp":"{resp.hex()}"'
        data, sw = resp[:-2], int.from_bytes(resp[-2:], "big")
        clear = self._files.note(apdu, sw)
        if clear or not data:
            return f',"sw":"{sw:04x}","resp":"{data.hex()}"'
        mac = _mac(self.writer.key, data)
        return f',"sw":"{sw:04x}","resp":{{"len":{len(data)},"hmac":"{mac}"}}'

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            if self.owns_writer:
                self.writer.close()
            else:
                with contextlib.suppress(ValueError):  # closed under us by its owner
                    self.writer.flush()


def add_trace_option(parser: argparse.ArgumentParser) -> None:
    """``--trace FILE`` on a command that talks to a card."""
    parser.add_argument(
        "--trace",
        type=Path,
        default=None,
        metavar="FILE",
        help="write every APDU, redacted (no PIN, no personal data), as JSON lines to FILE",
    )


def _instance(args: argparse.Namespace) -> Path:
    from serving import home

    return getattr(args, "instance", None) or getattr(args, "home", None) or home()


def open_trace(args: argparse.Namespace) -> TraceWriter | None:
    """The writer of ``args.trace`` (None without ``--trace``), with the instance's key."""
    if getattr(args, "trace", None) is None:
        return None
    return TraceWriter(args.trace, trace_key(_instance(args)))


def trace_transport(args: argparse.Namespace, connect: Callable[[], Transport]) -> Transport:
    """``connect()``, traced when ``--trace`` was given; the trace file is opened (or
    refused with ``TraceError``) before ``connect`` touches the card."""
    writer = open_trace(args)
    if writer is None:
        return connect()
    try:
        transport = connect()
    except BaseException:
        writer.close()
        raise
    return TracingTransport(transport, writer, owns_writer=True)


# --- reading a trace back ------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One traced APDU. ``resp`` None: the answer data was redacted (or never came)."""

    key: str  # what replay matches a command on (``replay_key``)
    ins: int | None
    dur: float  # seconds
    sw: int | None
    resp: bytes | None
    raw: bytes | None = None  # an answer shorter than a status word, as it came
    error: str | None = None


@dataclass(frozen=True)
class Trace:
    header: dict[str, Any]
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def atr(self) -> bytes | None:
        atr = self.header.get("atr")
        return bytes.fromhex(atr) if isinstance(atr, str) and atr else None


def replay_key(fields: dict[str, Any]) -> str:
    """A command's identity for replay: header, clear data or only the length, Le."""
    data = fields.get("data")
    shown = f"#{data['len']}" if isinstance(data, dict) else (data or "")
    return f"{fields['cmd']}/{shown}/{fields.get('le', '')}"


def read_trace(path: Path) -> Trace:
    """Loads a trace written by ``TraceWriter``; anything else is a one-line ``TraceError``."""
    try:
        with open(path, "rb") as f:
            blob = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise TraceError(f"cannot read the trace {path}: {exc.strerror}") from None
    if len(blob) > MAX_BYTES:
        raise TraceError(f"{path} is larger than {MAX_BYTES // 2**20} MB: not a trace to replay")
    if not blob.strip():
        raise TraceError(f"{path} is empty: not an APDU trace")
    lines = blob.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if len(lines) > MAX_LINES:
        raise TraceError(f"{path} has more than {MAX_LINES} lines: not a trace to replay")
    objs = []
    for i, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            cut = i == len(lines) and not blob.endswith(b"\n")
            what = "is truncated (its last line is cut off)" if cut else f"line {i} is not JSON"
            raise TraceError(f"{path} {what}: not a JSON-lines APDU trace") from None
        if not isinstance(obj, dict):
            raise TraceError(f"{path} line {i} is not a JSON object: not an APDU trace")
        objs.append(obj)
    header = objs[0]
    if header.get("trace") != FORMAT:
        raise TraceError(f"{path} has no trace header line: not an APDU trace of kiosk-sim")
    if header.get("version") != VERSION:
        raise TraceError(f"{path} is trace version {header.get('version')!r}; {VERSION} is read")
    try:
        return Trace(header, list(_exchanges(objs[1:])))
    except _Bad as bad:
        raise TraceError(f"{path} line {bad.line}: {bad.what}") from None


class _Bad(Exception):
    def __init__(self, line: int, what: str) -> None:
        self.line, self.what = line, what


def _exchanges(objs: list[dict[str, Any]]) -> Iterator[Exchange]:
    for i, obj in enumerate(objs, 2):
        if "trace" in obj:
            continue  # the header of a later card session (a kiosk's trace has one per card)
        cmd, sw, resp = obj.get("cmd"), obj.get("sw"), obj.get("resp")
        try:
            head = bytes.fromhex(cmd) if isinstance(cmd, str) else None
            dur = float(obj.get("dur_ms", 0.0)) / 1e3
        except (ValueError, TypeError):
            head = None
            dur = -1.0
        if head is None or not 0 <= dur < 3600:
            raise _Bad(i, "not an APDU record (cmd, dur_ms)")
        data = obj.get("data")
        if not (data is None or isinstance(data, str) or _is_redacted(data)):
            raise _Bad(i, "the command's data is neither hex nor redacted")
        le = obj.get("le")
        if le is not None and (type(le) is not int or not 0 < le <= 65536):
            raise _Bad(i, "le is not 1..65536")
        key = replay_key(obj)
        ins = head[1] if len(head) > 1 else None
        error = obj.get("error")
        if error is not None:
            yield Exchange(key, ins, dur, None, None, error=str(error))
            continue
        try:
            if sw is None:
                raw = bytes.fromhex(resp) if isinstance(resp, str) else None
                if raw is None or len(raw) > 1:
                    raise ValueError
                yield Exchange(key, ins, dur, None, None, raw=raw)
                continue
            code = int(sw, 16) if isinstance(sw, str) and len(sw) == 4 else -1
            if code < 0:
                raise ValueError
            if isinstance(resp, str):
                yield Exchange(key, ins, dur, code, bytes.fromhex(resp))
            elif _is_redacted(resp):
                yield Exchange(key, ins, dur, code, None)
            else:
                raise ValueError
        except ValueError:
            raise _Bad(i, "the answer is not a status word with hex or redacted data") from None


def _is_redacted(v: object) -> bool:
    return isinstance(v, dict) and type(v.get("len")) is int and set(v) <= {"len", "hmac"}
