"""What `kiosk-sim cert verify` reads: each argument turned into the codes it holds.

An argument is a value (``shc:/…``, a compact JWS, a seal's JSON as its QR holds it)
or a file: a JWS, a ``.smart-health-card`` file, ``shc:/`` text, a VDS-NC JSON, a
picture with one or more QR codes, or a PDF such as the printed certificate. A PDF is
rasterized by poppler's ``pdftoppm`` in its own process, bounded in time, memory,
pages and pixels, for it is the sender's file. Anything unusable raises CertError.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from .errors import CertError, Code
from .jws import parse_json
from .qr import PREFIX, from_numeric, open_image, read_image
from .verify import file_credentials

MAX_FILE = 20_000_000  # bytes: a phone's JPEG of the page fits, a PDF of the page is 70 kB
MAX_TEXT = 1_000_000  # bytes of a text input: a .smart-health-card of many cards fits
PDF_PAGES = 4  # the certificate is one page; a few more are read, never a whole book
PDF_LONG_SIDE = 2339  # pixels: A4 at 200 dpi, where a 0.5 mm QR module is 4 pixels
PDF_SECONDS = 20
PDF_MEMORY = 1 << 30  # bytes of address space for pdftoppm
# a JWS header is a JSON object, so its base64url starts "eyJ"
_JWS = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
UNREADABLE = (
    "the input is neither a JWS, a .smart-health-card file, shc:/ text, "
    "an ICAO seal, an image nor a PDF"
)


class Kind(StrEnum):
    SHC = "shc"
    SEAL = "icao_seal"


@dataclass(frozen=True)
class Found:
    """One code: an SHC's JWS, or a VDS-NC seal's JSON text as it was given."""

    kind: Kind
    value: str
    source: str  # where it was, for people: "page.pdf, page 1"
    page: str  # codes sharing it were printed together: they are cross-checked


def is_value(arg: str) -> bool:
    """An argument that is a code itself rather than a file name."""
    text = arg.strip()
    if text.startswith((PREFIX, "{")):
        return True
    return bool(_JWS.fullmatch(text)) and not os.path.exists(arg)  # False on any OSError


def read_argument(arg: str, stdin: BinaryIO | None = None, position: int = 1) -> list[Found]:
    """Every code in one argument; at least one, else CertError (OSError: a file unread).

    ``position`` names a value among the arguments: codes of two arguments are never
    taken for one page.
    """
    if arg == "-":
        if stdin is None:
            raise CertError(Code.BAD_INPUT, "standard input is closed")
        found = from_bytes(stdin.read(MAX_FILE + 1), "standard input")
    elif is_value(arg):
        found = from_text(arg, f"argument {position}")
    elif "\0" in arg:  # open() would raise ValueError: no file name holds one
        raise CertError(Code.BAD_INPUT, "a file name holds no NUL character")
    else:
        with open(arg, "rb") as f:
            found = from_bytes(f.read(MAX_FILE + 1), arg)
    if not found:
        label = "standard input" if arg == "-" else arg
        raise CertError(
            Code.BAD_INPUT, f"no SMART Health Card or ICAO seal QR code found in {label}"
        )
    return found


def from_bytes(raw: bytes, label: str) -> list[Found]:
    if len(raw) > MAX_FILE:
        raise CertError(Code.TOO_LARGE, f"{label} is larger than {MAX_FILE:,} bytes")
    if b"%PDF-" in raw[:1024]:  # readers allow junk before the header (PDF 1.7, annex H)
        return [c for n, page in enumerate(pdf_pages(raw), 1) for c in codes_in(page, label, n)]
    image = open_image(raw)
    if image is not None:
        return codes_in(image, label)
    if len(raw) > MAX_TEXT:
        raise CertError(Code.TOO_LARGE, f"{label} is larger than {MAX_TEXT:,} bytes of text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CertError(Code.BAD_INPUT, UNREADABLE) from None
    return from_text(text, label)


def from_text(text: str, label: str) -> list[Found]:
    if len(text) > MAX_TEXT:
        raise CertError(Code.TOO_LARGE, f"{label} is larger than {MAX_TEXT:,} characters")
    text = text.strip()
    if not text:
        raise CertError(Code.BAD_INPUT, "the input is empty")
    if text.startswith(PREFIX):
        return [Found(Kind.SHC, from_numeric(text.split()), label, label)]
    if text.startswith("{"):
        return _json(text, label)
    return [Found(Kind.SHC, text, label, label)]  # a JWS; verify() says what is wrong with it


def _json(text: str, label: str) -> list[Found]:
    try:
        doc = parse_json(text)
    except ValueError as exc:  # the parser's reasons name places, never the content
        raise CertError(Code.BAD_INPUT, f"{label} is not strict JSON: {exc!s:.80}") from None
    if isinstance(doc, dict) and "verifiableCredential" in doc:
        return [Found(Kind.SHC, jws, label, label) for jws in file_credentials(text)]
    if isinstance(doc, dict) and "data" in doc and "sig" in doc:
        return [Found(Kind.SEAL, text, label, label)]  # certs.vds judges the rest of it
    raise CertError(
        Code.BAD_INPUT, f"{label} is JSON but neither a .smart-health-card file nor an ICAO seal"
    )


def codes_in(image: Image.Image, label: str, page: int | None = None) -> list[Found]:
    """The SHC and seal codes of one picture; QR codes of anything else are passed over."""
    where = f"{label}, page {page}" if page else label
    values = read_image(image)
    shc = [v.strip() for v in values if v.strip().startswith(PREFIX)]
    singles = [v for v in shc if v.count("/") == 1]
    chunks = [v for v in shc if v.count("/") > 1]  # the parts of one card, in any order
    found = [Found(Kind.SHC, from_numeric(v), where, where) for v in singles]
    if chunks:
        found.append(Found(Kind.SHC, from_numeric(chunks), where, where))
    found += [Found(Kind.SEAL, v, where, where) for v in values if v.lstrip().startswith("{")]
    return found


def pdf_pages(raw: bytes) -> list[Image.Image]:
    """The first PDF_PAGES pages as grey pictures, their long side PDF_LONG_SIDE pixels."""
    with tempfile.TemporaryDirectory(prefix="kiosk-sim-pdf-") as tmp:
        pdf = Path(tmp) / "in.pdf"
        pdf.write_bytes(raw)
        command = ["pdftoppm", "-q", "-gray", "-f", "1", "-l", str(PDF_PAGES)]
        command += ["-scale-to", str(PDF_LONG_SIDE), str(pdf), str(Path(tmp) / "page")]
        if not shutil.which("pdftoppm"):
            raise CertError(Code.BAD_INPUT, "reading a PDF needs pdftoppm (Debian: poppler-utils)")
        try:
            # prlimit, not preexec_fn: preexec_fn is unsafe in a process with threads
            run = subprocess.run(
                ["prlimit", f"--as={PDF_MEMORY}", "--", *command],
                capture_output=True,
                timeout=PDF_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CertError(
                Code.TOO_LARGE, f"the PDF was not rasterized within {PDF_SECONDS} s"
            ) from None
        if run.returncode != 0:  # poppler renders what it can repair and says 0
            raise CertError(Code.BAD_INPUT, "the PDF is damaged, cut short or encrypted")
        pages = sorted(Path(tmp).glob("page-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        out = []
        for p in pages:
            with Image.open(p, formats=("PPM",)) as im:
                out.append(im.copy())  # in memory: the file goes with the folder
        return out
