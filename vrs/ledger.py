"""How a ledger CSV's bytes become text: UTF-8 (with or without BOM) or CP932 (Shift_JIS).

Municipal ledger systems commonly export Shift_JIS, more precisely Microsoft's
CP932 (NEC and IBM extensions: ①, 髙, …). A file is checked whole, strictly,
before a row is read: a guess from its first bytes could pass a file that
turns out not to be that encoding half-way, and a lenient decoding would seal
mojibake names into the records. UTF-8 is tried first: Japanese CP932 text is
almost never valid UTF-8, while plain ASCII is both and reads the same.

The CLI (``vrs import``) and the staff web import (``POST /staff/import``)
both go through ``ledger_text``. Errors name a line number, never a row's
contents (personal data).
"""

from __future__ import annotations

import codecs
import io
from typing import BinaryIO

from .errors import Code, VrsError

# what --encoding (or a charset parameter) may say -> the codec; "utf-8-sig" drops a BOM
ENCODINGS = {
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "cp932": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
}
DETECTED = ("utf-8-sig", "cp932")
SHOWN = {"utf-8-sig": "UTF-8", "cp932": "Shift_JIS (CP932)"}
CHUNK = 1 << 20


def codec_of(name: str) -> str:
    """The codec for an encoding name a user gave; ValueError with the choices otherwise."""
    try:
        return ENCODINGS[name.strip().lower()]
    except KeyError:
        raise ValueError(
            f"{name!r} is not an encoding a ledger may have: UTF-8 or Shift_JIS (CP932)"
        ) from None


def _first_bad_line(raw: BinaryIO, codec: str) -> int | None:
    """The line of the first byte ``codec`` cannot decode strictly (or of a NUL), else None."""
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(codec)("strict")
    line = 1
    while True:
        chunk = raw.read(CHUNK)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            # exc.start counts the decoder's pending bytes too (part of a character: never \n)
            pending = len(decoder.getstate()[0])
            return line + chunk[: max(0, exc.start - pending)].count(b"\n")
        if "\x00" in text:  # no text has NUL; binary files that decode do (CP932 takes most)
            return line + text[: text.index("\x00")].count("\n")
        line += chunk.count(b"\n")
        if not chunk:
            return None


def ledger_text(raw: BinaryIO, encoding: str | None = None) -> io.TextIOWrapper:
    """The ledger as text: in ``encoding`` (a name ``codec_of`` takes), or in the first of
    UTF-8 and CP932 that decodes the whole file. Anything else is a VrsError that says
    which line failed and nothing of its contents.

    A pipe is read into memory first (it cannot be read twice); a file is read twice,
    so a large one is never held whole.
    """
    if not raw.seekable():
        raw = io.BytesIO(raw.read())
    if encoding is not None:
        try:
            codec = codec_of(encoding)
        except ValueError as exc:
            raise VrsError(Code.IMPORT_REJECTED, str(exc)) from None
        bad = _first_bad_line(raw, codec)
        if bad is not None:
            raise VrsError(
                Code.IMPORT_REJECTED,
                f"the file is not {SHOWN[codec]} text (line {bad}); nothing was imported",
            )
    else:
        failures = {}
        for codec in DETECTED:
            if (bad := _first_bad_line(raw, codec)) is None:
                break
            failures[codec] = bad
        else:
            where = ", ".join(f"not {SHOWN[c]} at line {bad}" for c, bad in failures.items())
            raise VrsError(
                Code.IMPORT_REJECTED,
                f"the file is neither UTF-8 nor Shift_JIS (CP932) text ({where}); "
                "nothing was imported",
            )
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding=codec, errors="strict", newline="")
