"""atheris target B08: what `kiosk-sim cert verify` is given, from argument or file to verdicts.

The first byte picks what the rest is: ``A`` an argument's text, ``F`` a file's bytes
(JWS, .smart-health-card, seal JSON, picture or PDF: a PDF goes through pdftoppm, so
those inputs run slowly). Only CertError may come out of reading, judging never
raises, every verdict prints as JSON, and a code called valid must be a genuine one:
the test issuer's SHC or the test barcode signer's seal, byte for byte in its data.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache

import atheris
import zxingcpp
from PIL import Image

with atheris.instrument_imports(include=["certs"]):
    from certs import (
        CertError,
        build_bundle,
        clock,
        make_payload,
        qr_image,
        sample,
        to_numeric,
        vds_pki,
    )
    from certs.inputs import Kind, from_bytes, from_text, is_value
    from certs.vds import parse_seal, seal_json
    from certs.verdicts import Status, Trust, judge

import _harness

MAX_LEN = 131072  # a PDF of the two codes, or a picture of them at 2 pixels a module


UVCI = "3820590123456789"


@dataclass(frozen=True)
class Genuine:
    trust: Trust
    seal: str  # the seal's JSON as its QR holds it
    jws: str  # the card printed beside it: its Bundle.identifier is the seal's UVCI
    jwss: frozenset[str]  # every card the trusted keys verify


@cache
def genuine() -> Genuine:
    shc = _harness.genuine_shc()
    now = clock.now()
    csca_key, csca = vds_pki.make_csca(now)
    signer = vds_pki.make_signer(csca_key, csca, now)
    data = sample.seal_payload(UVCI, 3)
    p = sample.person(overseas=True)
    bundle = build_bundle(p, sample.doses(3), overseas=True, certificate_id=UVCI)
    jws = shc.issuer.sign_compact(make_payload(sample.ISS, bundle))
    return Genuine(Trust(shc.keys, [csca]), seal_json(signer.sign(data)), jws, shc.jwss | {jws})


def test_one_input(data: bytes) -> None:
    kind, body = data[:1], data[1:]
    g = genuine()
    try:
        if kind == b"A":
            arg = body.decode("utf-8", "replace")
            if not is_value(arg):  # a file name: the fuzzer reads no files of this machine
                return
            found = from_text(arg, "argument 1")
        else:
            found = from_bytes(body, "fuzz")
    except CertError as exc:
        assert exc.code and exc.message
        return
    for verdict in judge(found, g.trust):
        json.dumps(verdict.to_json(), ensure_ascii=False).encode("utf-8")  # what the CLI prints
        if verdict.status is not Status.VALID:
            continue
        if verdict.found.kind is Kind.SHC:
            assert verdict.found.value.strip() in g.jwss, "a changed card verified"
        else:
            ours = parse_seal(g.seal)
            theirs = parse_seal(verdict.found.value)
            assert theirs["data"] == ours["data"], "a changed seal verified"


def _qr(value: str) -> Image.Image:
    if value.startswith("shc:/"):
        return qr_image(value, module_px=2).convert("L")
    raw = zxingcpp.create_barcode(value, zxingcpp.BarcodeFormat.QRCode).to_image(
        scale=2, add_quiet_zones=True
    )
    return Image.frombytes("L", (raw.shape[1], raw.shape[0]), bytes(memoryview(raw)))


def seeds() -> list[bytes]:
    g = genuine()
    numeric = to_numeric(g.jws)
    out = [b"A" + v.encode() for v in (numeric, g.jws, g.seal)]
    out += [b"F" + v.encode() for v in (numeric, g.jws, g.seal)]
    out.append(b"F" + json.dumps({"verifiableCredential": sorted(g.jwss)}).encode())
    codes = [_qr(numeric), _qr(g.seal)]
    page = Image.new("L", (sum(c.width for c in codes), max(c.height for c in codes)), 255)
    page.paste(codes[0], (0, 0))
    page.paste(codes[1], (codes[0].width, 0))
    for fmt in ("PNG", "PDF"):
        buf = io.BytesIO()
        page.save(buf, fmt)
        out.append(b"F" + buf.getvalue())
    return out


if __name__ == "__main__":
    genuine()
    _harness.main(test_one_input, seeds, MAX_LEN)
