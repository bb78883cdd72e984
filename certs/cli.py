"""`kiosk-sim cert sample | verify`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import clock, sample
from .errors import CertError, Code
from .fhir import VACCINES, build_bundle
from .jws import IssuerKey, sign
from .qr import bytes_qr_image, from_numeric, open_image, qr_image, read_image, to_numeric
from .render import render_pdf, render_png
from .verify import KeySets, Verification, file_credentials, verify

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2
UNREADABLE = "the input is neither a JWS, a .smart-health-card file, shc:/ text nor an image"


def register(sub: argparse._SubParsersAction) -> None:
    cert = sub.add_parser("cert", help="vaccination certificate: sample, verify")
    cmds = cert.add_subparsers(dest="cert_command", required=True, metavar="COMMAND")

    p = cmds.add_parser("sample", help="issue a certificate for a synthetic person")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--overseas",
        action="store_true",
        help="overseas: romanized name, passport, and the ICAO VDS-NC seal (seal.json,"
        " seal-qr.png, csca.pem)",
    )
    p.add_argument("--doses", type=int, default=3, choices=range(1, 6))
    p.set_defaults(func=cmd_sample)

    p = cmds.add_parser(
        "verify",
        help="verify a JWS, .smart-health-card, shc:/ value or QR image",
        description="Exit 0 when valid, 1 when not, 2 when the input or a key set is unusable.",
    )
    p.add_argument(
        "--jwks",
        type=Path,
        nargs="+",
        action="extend",  # --jwks A --jwks B keeps both
        required=True,
        metavar="FILE_OR_DIR",
        help="a key-set file, or an issuer folder holding .well-known/jwks.json (and crl/)",
    )
    p.add_argument(
        "input", nargs="?", help="JWS, .smart-health-card, shc:/ text or image; '-': stdin"
    )
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=cmd_verify)


def cmd_sample(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    key = IssuerKey.generate()  # a fresh development key; only its public half is written
    person = sample.person(args.overseas)
    cid = "SAMPLE-0000000001"
    bundle = build_bundle(
        person,
        sample.doses(args.doses),
        overseas=args.overseas,
        certificate_id=cid if args.overseas else None,
    )
    jws = sign(key, sample.ISS, bundle)
    numeric = to_numeric(jws)
    seal_value = _sample_seal(out, cid, args.doses) if args.overseas else None
    page = sample.printable(numeric, cid, clock.today_jst(), args.overseas, args.doses, seal_value)
    # no trailing newline: the spec's example files have none, and validators refuse it
    (out / "certificate.jws").write_text(jws)
    (out / "certificate.smart-health-card").write_text(json.dumps({"verifiableCredential": [jws]}))
    (out / "qr-numeric.txt").write_text(numeric)
    qr_image(numeric, module_px=6).save(out / "qr.png")
    (out / "certificate.png").write_bytes(render_png(page))
    (out / "certificate.pdf").write_bytes(render_pdf(page))
    (out / "jwks.json").write_text(json.dumps(key.jwks(), indent=2) + "\n")
    print(f"sample certificate written to {out} (issuer key id {key.kid})")
    return EXIT_VALID


def _sample_seal(out: Path, certificate_id: str, n: int) -> str:
    """seal.json, seal-qr.png and csca.pem of a throwaway CSCA and signer; the seal's JSON."""
    from .vds import seal_json
    from .vds_pki import make_csca, make_signer

    csca_key, csca = make_csca()
    signer = make_signer(csca_key, csca)  # neither private key is written
    value = seal_json(sample.seal(certificate_id, signer, n))
    (out / "seal.json").write_text(value, encoding="utf-8")  # exactly what the QR holds
    bytes_qr_image(value.encode("utf-8"), module_px=6).save(out / "seal-qr.png")
    (out / "csca.pem").write_bytes(signer.csca_pem())
    return value


def read_input(source: str) -> list[str]:
    """The JWSs in INPUT, whatever its form; a bad INPUT raises CertError (OSError: unread)."""
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    image = open_image(raw)
    if image is not None:
        values = [v for v in read_image(image) if v.startswith("shc:/")]
        if not values:
            raise CertError(Code.BAD_INPUT, "no SMART Health Card QR code found in the image")
        return [from_numeric(values)]
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CertError(Code.BAD_INPUT, UNREADABLE) from None
    if text.startswith("{"):
        return file_credentials(text)
    if text.startswith("shc:/"):
        return [from_numeric(text.split())]
    if not text:
        raise CertError(Code.BAD_INPUT, "the input is empty")
    return [text]


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return "?"
    try:
        when = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):  # a NumericDate past the years 1–9999
        return "?"
    return when.astimezone(clock.JST).strftime("%Y-%m-%d %H:%M JST")


# the payload is the sender's: any member may hold any JSON type
def _obj(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def summarize(result: Verification) -> list[str]:
    """The card's content in a few lines a person reads (the whole payload is in --json)."""
    payload = result.payload or {}
    kid = (result.header or {}).get("kid")
    lines = [f"issuer:  {payload.get('iss')}  (key {kid}, from {result.key_source or '-'})"]
    lines.append(f"issued:  {_when(payload.get('nbf'))}")
    if "exp" in payload:
        lines.append(f"expires: {_when(payload.get('exp'))}")
    subject = _obj(_obj(payload.get("vc")).get("credentialSubject"))
    entries = _obj(subject.get("fhirBundle")).get("entry")
    by_cvx = {v.cvx: f"{v.name_en} ({v.manufacturer_en})" for v in VACCINES.values()}
    others: dict[str, int] = {}
    for entry in _list(entries):
        res = _obj(_obj(entry).get("resource"))
        kind = res.get("resourceType")
        if kind == "Patient":
            names = [
                " ".join(str(x) for x in [n.get("family", ""), *n.get("given", [])]).strip()
                for n in _list(res.get("name"))
                if isinstance(n, dict) and isinstance(n.get("given", []), list)
            ]
            lines.append(f"name:    {' / '.join(names)}")
            lines.append(f"born:    {res.get('birthDate')}")
        elif kind == "Immunization":
            codes = [_obj(c).get("code") for c in _list(_obj(res.get("vaccineCode")).get("coding"))]
            product = ", ".join(by_cvx.get(str(c), f"CVX {c}") for c in codes)
            lines.append(
                f"dose:    {res.get('occurrenceDateTime')}  {product}  lot {res.get('lotNumber', '-')}"
            )
        else:
            others[str(kind)] = others.get(str(kind), 0) + 1
    lines += [f"also:    {n} {kind}" for kind, n in others.items()]
    return lines


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
    except (
        CertError,
        OSError,
    ) as exc:  # the decoders raise CertError only (tests/certs/test_fuzz.py)
        if isinstance(exc, CertError):
            message = exc.message
        else:
            message = f"cannot read {args.input}: {exc.strerror}"
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
                print(f"  problem: {p.message} [{p.code.value}]")
            for p in r.warnings:
                print(f"  warning: {p.message} [{p.code.value}]")
            if r.payload is not None:
                print("\n".join(f"  {line}" for line in summarize(r)))
    return EXIT_VALID if all(r.valid for r in results) else EXIT_INVALID
