"""The SMART Health Cards spec examples: every stage decodes and verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certs import KeySets, from_numeric, verify
from certs.jws import b64url_decode, deflate, inflate, minify
from certs.verify import Code

EXAMPLES = ["00", "02"]


@pytest.fixture
def spec_keys(vectors: Path) -> KeySets:
    keys = KeySets()
    keys.add_path(vectors / "issuer")
    return keys


@pytest.mark.parametrize("ex", EXAMPLES)
def test_every_stage_agrees(vectors: Path, spec_keys: KeySets, ex: str) -> None:
    jws = (vectors / f"example-{ex}-d-jws.txt").read_text().strip()
    minified = (vectors / f"example-{ex}-c-jws-payload-minified.json").read_bytes().strip()
    expanded = json.loads((vectors / f"example-{ex}-b-jws-payload-expanded.json").read_text())
    bundle = json.loads((vectors / f"example-{ex}-a-fhirBundle.json").read_text())
    # JWS payload inflates to the minified stage, which is the expanded one minified
    assert inflate(b64url_decode(jws.split(".")[1])) == minified
    assert minify(expanded) == minified
    assert expanded["vc"]["credentialSubject"]["fhirBundle"] == bundle
    # the file stage holds the same JWS, the QR stage(s) decode to it
    shc_file = json.loads((vectors / f"example-{ex}-e-file.smart-health-card").read_text())
    assert shc_file["verifiableCredential"] == [jws]
    chunks = sorted(vectors.glob(f"example-{ex}-f-qr-code-numeric-value-*.txt"))
    assert from_numeric([c.read_text().strip() for c in reversed(chunks)]) == jws
    result = verify(jws, spec_keys)
    assert result.valid, result.problems
    assert result.payload == expanded


def test_the_archived_japanese_key_set_loads(vectors: Path) -> None:
    keys = KeySets()
    keys.add_path(vectors.parent / "japan-vrs-issuer-jwks.json")
    assert list(keys.keys) == ["f1vhQP9oOZkityrguynQqB4aVh8u9xcf3wm4AFF4aVw"]


@pytest.mark.parametrize("ex", EXAMPLES)
def test_one_byte_changed_anywhere_is_refused(vectors: Path, spec_keys: KeySets, ex: str) -> None:
    jws = (vectors / f"example-{ex}-d-jws.txt").read_text().strip()
    step = max(1, len(jws) // 97)  # about a hundred positions across header, payload, signature
    for i in range(0, len(jws), step):
        if jws[i] == ".":
            continue
        changed = jws[:i] + ("A" if jws[i] != "A" else "B") + jws[i + 1 :]
        result = verify(changed, spec_keys)
        assert not result.valid, i
        assert result.problems and all(p.message for p in result.problems)


def test_a_revoked_card_is_refused(vectors: Path, spec_keys: KeySets) -> None:
    # example 00's rid is not in the list; put it there and the card is revoked
    jws = (vectors / "example-00-d-jws.txt").read_text().strip()
    rid = verify(jws, spec_keys).payload["vc"]["rid"]  # type: ignore[index]
    key = spec_keys.keys[json.loads(b64url_decode(jws.split(".")[0]))["kid"]]
    assert key.crl_rids is not None and rid not in key.crl_rids
    key.crl_rids.add(rid)
    result = verify(jws, spec_keys)
    assert [p.code for p in result.problems] == [Code.REVOKED]


def test_a_zlib_header_instead_of_raw_deflate_is_refused(spec_keys: KeySets) -> None:
    import zlib

    from certs.jws import b64url

    header = b64url(minify({"alg": "ES256", "zip": "DEF", "kid": "x"}))
    body = b64url(zlib.compress(minify({"iss": "https://a"})))
    result = verify(f"{header}.{body}.{b64url(bytes(64))}", spec_keys)
    assert Code.BAD_DEFLATE in [p.code for p in result.problems]
    assert deflate(b"x") != zlib.compress(b"x")
