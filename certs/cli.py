"""`kiosk-sim cert sample | verify`."""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import date
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from . import sample
from .errors import CertError, Code
from .fhir import build_bundle
from .jws import IssuerKey, sign
from .qr import from_numeric, qr_image, read_image, to_numeric
from .render import render_pdf, render_png
from .verify import KeySets, verify

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    cert = sub.add_parser("cert", help="vaccination certificate: sample, verify")
    cmds = cert.add_subparsers(dest="cert_command", required=True, metavar="COMMAND")

    p = cmds.add_parser("sample", help="issue a certificate for a synthetic person")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--overseas", action="store_true", help="overseas + romanized name")
    p.add_argument("--doses", type=int, default=3, choices=range(1, 6))
    p.set_defaults(func=cmd_sample)

    p = cmds.add_parser("verify", help="verify a JWS, .smart-health-card, shc:/ value or QR image")
    p.add_argument("--jwks", type=Path, nargs="+", required=True, metavar="FILE_OR_DIR")
    p.add_argument("input", nargs="?", help="a file, or '-' for standard input")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)


def cmd_sample(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    key = IssuerKey.generate()  # a fresh development key; only its public half is written
    person = sample.person(args.overseas)
    jws = sign(
        key, sample.ISS, build_bundle(person, sample.doses(args.doses), overseas=args.overseas)
    )
    numeric = to_numeric(jws)
    page = sample.printable(numeric, "SAMPLE-0000000001", date.today(), args.overseas, args.doses)
    (out / "certificate.jws").write_text(jws + "\n")
    (out / "certificate.smart-health-card").write_text(json.dumps({"verifiableCredential": [jws]}))
    (out / "qr-numeric.txt").write_text(numeric + "\n")
    qr_image(numeric, module_px=6).save(out / "qr.png")
    (out / "certificate.png").write_bytes(render_png(page))
    (out / "certificate.pdf").write_bytes(render_pdf(page))
    (out / "jwks.json").write_text(json.dumps(key.jwks(), indent=2))
    print(f"sample certificate written to {out} (issuer key id {key.kid})")
    return EXIT_VALID


def read_input(source: str) -> list[str]:
    """The JWSs in INPUT, whatever its form."""
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError):
        image = None
    if image is not None:
        values = [v for v in read_image(image) if v.startswith("shc:/")]
        if not values:
            raise CertError(Code.BAD_INPUT, "no SMART Health Card QR code found in the image")
        return [from_numeric(values)]
    text = raw.decode("utf-8", errors="strict").strip()
    if text.startswith("{"):
        creds = json.loads(text).get("verifiableCredential")
        if not isinstance(creds, list) or not all(isinstance(c, str) for c in creds):
            raise CertError(
                Code.BAD_INPUT, "a .smart-health-card file holds a verifiableCredential list"
            )
        return creds
    if text.startswith("shc:/"):
        return [from_numeric(text.split())]
    return [text]


def cmd_verify(args: argparse.Namespace) -> int:
    if args.input is None:
        # `--jwks A B INPUT`: argparse hands INPUT to --jwks; the last path is the input
        if len(args.jwks) < 2:
            print("error: INPUT is required", file=sys.stderr)
            return EXIT_UNUSABLE
        args.input = str(args.jwks.pop())
    try:
        trusted = KeySets()
        for path in args.jwks:
            trusted.add_path(path)
        jwss = read_input(args.input)
    except (CertError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, CertError) else str(exc)
        if args.json:
            print(json.dumps({"valid": False, "error": "unusable_input", "message": message}))
        else:
            print(f"error: {message}", file=sys.stderr)
        return EXIT_UNUSABLE
    results = [verify(jws, trusted) for jws in jwss]
    if args.json:
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
    else:
        for r in results:
            print("VALID" if r.valid else "INVALID")
            for p in r.problems:
                print(f"  - {p.message} [{p.code.value}]")
            if r.payload is not None:
                print(json.dumps(r.payload, ensure_ascii=False, indent=2))
    return EXIT_VALID if all(r.valid for r in results) else EXIT_INVALID
