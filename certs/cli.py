"""`kiosk-sim cert sample | verify`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import clock, sample
from .errors import CertError
from .fhir import build_bundle
from .inputs import read_argument
from .jws import IssuerKey, sign
from .qr import bytes_qr_image, qr_image, to_numeric
from .render import render_pdf, render_png
from .vds import VdsError, load_csca
from .verdicts import KIND_NAMES, Status, Trust, judge
from .verify import KeySets

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        help="verify the SMART Health Cards and ICAO seals in values, files, pictures and PDFs",
        description=(
            "One verdict per code found. Exit 0 when every code is valid, 1 when one is invalid"
            " or could not be checked (no --jwks or --csca for it), 2 when an input or a trust"
            " list is unusable."
        ),
    )
    p.add_argument(
        "--jwks",
        type=Path,
        nargs="+",
        action="extend",  # --jwks A --jwks B keeps both
        metavar="FILE_OR_DIR",
        help="SHC issuers: a key-set file, or an issuer folder holding .well-known/jwks.json",
    )
    p.add_argument(
        "--csca",
        type=Path,
        action="append",
        metavar="FILE_OR_DIR",
        help="ICAO seals: a CSCA certificate (PEM or DER), or a folder of them; repeatable",
    )
    p.add_argument(
        "input",
        nargs="*",
        help="shc:/ value, JWS, seal JSON, or a file: JWS, .smart-health-card, seal JSON,"
        " picture, PDF; '-': stdin",
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


def _trust(args: argparse.Namespace) -> Trust:
    trust = Trust()
    if args.jwks:
        trust.keys = KeySets()
        for path in args.jwks:
            trust.keys.add_path(path)
    if args.csca:
        trust.csca = [cert for path in args.csca for cert in load_csca(path)]
    return trust


def cmd_verify(args: argparse.Namespace) -> int:
    if not args.input:
        # `--jwks A B INPUT`: argparse hands INPUT to --jwks; the last path is the input
        if len(args.jwks or []) < 2:
            print("error: INPUT is required", file=sys.stderr)
            return EXIT_UNUSABLE
        args.input = [str(args.jwks.pop())]
    arg = "--jwks/--csca"
    try:
        trust = _trust(args)
        found = []
        for position, arg in enumerate(args.input, 1):
            # sys.stdin is None when the caller closed it (`<&-`)
            stdin = None if sys.stdin is None else sys.stdin.buffer
            found += read_argument(arg, stdin, position)
    except (CertError, VdsError, OSError) as exc:  # the readers raise nothing else (test_fuzz)
        message = f"cannot read {arg}: {exc.strerror}" if isinstance(exc, OSError) else exc.message
        if args.json:
            print(json.dumps({"valid": False, "error": "unusable_input", "message": message}))
        else:
            print(f"error: {message}", file=sys.stderr)
        return EXIT_UNUSABLE
    verdicts = judge(found, trust)
    if args.json:
        print(json.dumps([v.to_json() for v in verdicts], ensure_ascii=False, indent=2))
    else:
        for v in verdicts:
            print(f"{v.status.value.upper()}  {KIND_NAMES[v.found.kind]}  ({v.found.source})")
            for p in v.problems:
                print(f"  problem: {p.message} [{p.code}]")
            for p in v.warnings:
                print(f"  warning: {p.message} [{p.code}]")
            if v.unverified:
                print(f"  unverified: {v.unverified.message} [{v.unverified.code}]")
            print("\n".join(f"  {line}" for line in v.lines))
    return EXIT_VALID if all(v.status is Status.VALID for v in verdicts) else EXIT_INVALID
