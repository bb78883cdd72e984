"""atheris target B04: the SMART Health Card decoder (JWS, file, key sets, payloads).

The first byte picks what the rest is: ``J`` a JWS, ``F`` a .smart-health-card
file, ``K`` a key set (JSON), ``P`` a payload and ``H`` a header that the test
issuer signs (so the claim checks run behind a valid signature). Only CertError may
come out, every verdict must be printable, and a card the genuine keys call valid
must be a genuine card, unless the test issuer signed it here.
"""

from __future__ import annotations

import json

import atheris

with atheris.instrument_imports(include=["certs"]):
    from certs import CertError, KeySets, Verification, file_credentials, verify
    from certs.jws import minify, parse_json
    from certs.verdicts import summarize

import _harness

MAX_LEN = 16384


def checked(result: Verification, jws: str, signed_here: bool = False) -> None:
    assert result.valid or all(p.code and p.message for p in result.problems)
    json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8")  # what the CLI prints
    summarize(result)
    if result.valid and not signed_here:
        assert jws.strip() in _harness.genuine_shc().jwss, "a changed card verified"


def _key_set(raw: bytes) -> None:
    try:
        jwks = parse_json(raw)
    except ValueError:
        return
    crls = jwks.get("crls") if isinstance(jwks, dict) else None  # {kid: list}, as add_path gives
    keys = KeySets()
    keys.add_jwks(jwks, "fuzz", crls if isinstance(crls, dict) else None)
    genuine = _harness.genuine_shc()
    for jws in genuine.jwss:
        result = verify(jws, keys)
        checked(result, jws)
        if result.valid:  # only under the genuine kid with the genuine key
            kid = result.header["kid"]  # type: ignore[index]
            mine, theirs = keys.keys[kid].key, genuine.keys.keys[kid].key
            assert mine.public_numbers() == theirs.public_numbers(), "a forged key verified"


def test_one_input(data: bytes) -> None:
    kind, body = data[:1], data[1:]
    genuine = _harness.genuine_shc()
    header = minify({"alg": "ES256", "zip": "DEF", "kid": genuine.issuer.kid})
    try:
        if kind == b"F":
            for jws in file_credentials(body):
                checked(verify(jws, genuine.keys), jws)
        elif kind == b"K":
            _key_set(body)
        elif kind == b"P":
            checked(verify(genuine.sign_raw(header, body), genuine.keys), "", signed_here=True)
        elif kind == b"H":
            result = verify(genuine.sign_raw(body, genuine.payload), genuine.keys)
            checked(result, "", signed_here=True)
        else:
            jws = body.decode("latin-1")  # every byte a character: non-ASCII JWSs too
            checked(verify(jws, genuine.keys), jws)
    except CertError as exc:
        assert exc.code and exc.message


def seeds() -> list[bytes]:
    genuine = _harness.genuine_shc()
    out = [b"J" + jws.encode() for jws in sorted(genuine.jwss)]
    out += [b"F" + json.dumps({"verifiableCredential": sorted(genuine.jwss)}).encode()]
    out += [b"F" + f for f in _harness.spec_files("example-*-e-file.smart-health-card")]
    out += [b"K" + json.dumps(genuine.issuer.jwks()).encode()]
    for jwks, crl in zip(
        _harness.spec_files("issuer/.well-known/jwks.json"),
        _harness.spec_files("issuer/.well-known/crl/*.json"),
        strict=False,
    ):
        listed = json.loads(crl)
        out += [b"K" + minify({**json.loads(jwks), "crls": {listed["kid"]: listed}})]
    japan = _harness.VECTORS / "japan-vrs-issuer-jwks.json"
    out += [b"K" + japan.read_bytes()] if japan.is_file() else []
    out += [b"P" + genuine.payload]
    out += [b"P" + f for f in _harness.spec_files("example-*-c-jws-payload-minified.json")]
    out += [b"H" + minify({"alg": "ES256", "zip": "DEF", "kid": genuine.issuer.kid})]
    return out


if __name__ == "__main__":
    _harness.genuine_shc()
    _harness.main(test_one_input, seeds, MAX_LEN)
