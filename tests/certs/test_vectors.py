"""The SMART Health Cards spec examples: every stage decodes and verifies; any change is refused."""

from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from certs import CertError, Code, KeySets, from_numeric, read_image, verify
from certs.jws import b64url, b64url_decode, deflate, inflate, minify

EXAMPLES = ["00", "02"]
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def stage(vectors: Path, ex: str, name: str) -> str:
    return (vectors / f"example-{ex}-{name}").read_text().strip()


def rasterize_qr_svg(svg: str, scale: int = 4) -> Image.Image:
    """The spec's QR SVGs draw each dark run as ``M x y.5 h n`` / ``m dx 0 h n`` strokes."""
    w, h = (int(v) for v in re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())  # type: ignore[union-attr]
    path = re.search(r'stroke="#000000" d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    img = Image.new("L", (w * scale, h * scale), 255)
    draw = ImageDraw.Draw(img)
    x = y = 0.0
    for cmd, args in re.findall(r"([MmHh])([-\d. ]+)", path):
        nums = [float(n) for n in args.split()]
        if cmd == "M":
            x, y = nums
        elif cmd == "m":
            x, y = x + nums[0], y + nums[1]
        else:  # a run of dark modules, one module high, centred on y
            top = round((y - 0.5) * scale)
            draw.rectangle(
                (round(x * scale), top, round((x + nums[0]) * scale) - 1, top + scale - 1), 0
            )
            x += nums[0]
    return img


@pytest.mark.parametrize("ex", EXAMPLES)
def test_every_stage_agrees_and_verifies(vectors: Path, spec_keys: KeySets, ex: str) -> None:
    bundle = json.loads(stage(vectors, ex, "a-fhirBundle.json"))
    expanded = json.loads(stage(vectors, ex, "b-jws-payload-expanded.json"))
    minified = stage(vectors, ex, "c-jws-payload-minified.json").encode()
    jws = stage(vectors, ex, "d-jws.txt")
    # a → b → c: the bundle is the payload's, which minifies to stage c
    assert expanded["vc"]["credentialSubject"]["fhirBundle"] == bundle
    assert minify(expanded) == minified
    # c → d: the JWS payload is stage c, raw-DEFLATEd
    assert inflate(b64url_decode(jws.split(".")[1])) == minified
    # d → e → f: the file holds the JWS, the QR values (chunks in any order) decode to it
    shc_file = json.loads(stage(vectors, ex, "e-file.smart-health-card"))
    assert shc_file["verifiableCredential"] == [jws]
    chunks = sorted(vectors.glob(f"example-{ex}-f-qr-code-numeric-value-*.txt"))
    assert len(chunks) == (1 if ex == "00" else 3)
    assert from_numeric([c.read_text().strip() for c in reversed(chunks)]) == jws
    # f → g: the QR image reads back (with zxing-cpp) as stage f
    for svg in sorted(vectors.glob(f"example-{ex}-g-qr-code-*.svg")):
        (value,) = read_image(rasterize_qr_svg(svg.read_text()))
        assert value == chunks[int(svg.stem.rsplit("-", 1)[1])].read_text().strip()
    result = verify(jws, spec_keys)
    assert result.valid, result.problems
    assert result.payload == expanded and not result.warnings


def test_the_archived_japanese_key_set_is_bound_to_its_issuer(vectors: Path) -> None:
    keys = KeySets()
    keys.add_path(vectors.parent / "japan-vrs-issuer-jwks.json")
    (key,) = keys.keys.values()
    assert key.kid == "f1vhQP9oOZkityrguynQqB4aVh8u9xcf3wm4AFF4aVw" and key.kid_is_thumbprint
    # the x5c leaf holds the same key and names the issuer: cards from other issuers fail
    assert key.issuers == {"https://vc.vrs.digital.go.jp/issuer"}


def _changes(text: str) -> list[tuple[int, str]]:
    """One changed character at every position: the next letter of the base64url alphabet
    (for the signature's last character that flips an unused bit), and a few foreign bytes."""
    out = [(i, B64URL[(B64URL.index(c) + 1) % 64]) for i, c in enumerate(text) if c != "."]
    out += [(i, c) for i in (0, len(text) // 2, len(text) - 1) for c in ("=", "+", " ", "é")]
    return out


@pytest.mark.parametrize("ex", EXAMPLES)
def test_one_byte_changed_anywhere_is_refused(vectors: Path, spec_keys: KeySets, ex: str) -> None:
    jws = stage(vectors, ex, "d-jws.txt")
    for i, c in _changes(jws):
        result = verify(jws[:i] + c + jws[i + 1 :], spec_keys)
        assert not result.valid, (i, c)
        assert result.problems and all(p.message and p.code for p in result.problems)


def test_a_changed_signature_bit_that_python_would_ignore_is_refused(
    vectors: Path, spec_keys: KeySets
) -> None:
    jws = stage(vectors, "00", "d-jws.txt")
    sig = jws.split(".")[2]
    twin = sig[:-1] + B64URL[B64URL.index(sig[-1]) ^ 1]  # differs only past the 512th bit
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(sig + "==")
    result = verify(jws[: -len(sig)] + twin, spec_keys)
    assert [p.code for p in result.problems] == [Code.MALFORMED_JWS]


def test_one_digit_changed_in_the_qr_value_is_refused(vectors: Path, spec_keys: KeySets) -> None:
    value = stage(vectors, "00", "f-qr-code-numeric-value-0.txt")
    for i in range(5, len(value)):
        changed = value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]
        try:
            jws = from_numeric(changed)
        except CertError as exc:  # e.g. a pair above 77 is no JWS character
            assert exc.code is Code.BAD_QR
            continue
        assert not verify(jws, spec_keys).valid, i


def test_revocation_list_and_its_timestamps(vectors: Path, spec_keys: KeySets) -> None:
    jws = stage(vectors, "00", "d-jws.txt")
    result = verify(jws, spec_keys)
    rid, nbf = result.payload["vc"]["rid"], result.payload["nbf"]  # type: ignore[index]
    key = spec_keys.keys[result.header["kid"]]  # type: ignore[index]
    assert key.crl_rids is not None and rid not in {r.split(".")[0] for r in key.crl_rids}
    # "rid.T" revokes the cards issued before T only
    key.crl_rids.add(f"{rid}.{int(nbf)}")
    assert verify(jws, spec_keys).valid
    key.crl_rids.add(f"{rid}.{int(nbf) + 1}")
    assert [p.code for p in verify(jws, spec_keys).problems] == [Code.REVOKED]
    key.crl_rids = {rid}
    assert [p.code for p in verify(jws, spec_keys).problems] == [Code.REVOKED]


def test_revocation_unchecked_is_said(vectors: Path) -> None:
    """The issuer announces a list (crlVersion) but none, or an older one, was given."""
    jws = stage(vectors, "00", "d-jws.txt")
    bare = KeySets()
    bare.add_path(vectors / "issuer" / ".well-known" / "jwks.json")
    result = verify(jws, bare)
    assert result.valid and [w.code for w in result.warnings] == [Code.REVOCATION_UNCHECKED]
    jwks = json.loads((vectors / "issuer" / ".well-known" / "jwks.json").read_text())
    jwks["keys"][0]["crlVersion"] = 2
    crl = json.loads(next((vectors / "issuer" / ".well-known" / "crl").glob("*.json")).read_text())
    stale = KeySets()
    stale.add_jwks(jwks, "stale", {crl["kid"]: crl})
    assert "older" in verify(jws, stale).warnings[0].message


def test_a_zlib_header_instead_of_raw_deflate_is_refused(spec_keys: KeySets) -> None:
    header = b64url(minify({"alg": "ES256", "zip": "DEF", "kid": "x"}))
    body = b64url(zlib.compress(minify({"iss": "https://a"})))
    result = verify(f"{header}.{body}.{b64url(bytes(64))}", spec_keys)
    assert Code.BAD_DEFLATE in [p.code for p in result.problems]
    assert deflate(b"x") != zlib.compress(b"x")
