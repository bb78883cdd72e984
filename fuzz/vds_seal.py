"""atheris target B09: the ICAO VDS-NC seal parser and verifier.

The input is a seal's text, as a QR code or a file holds it. Only VdsError may
come out of the parser; a seal that parses gets a verdict, and a seal the genuine
CSCA calls valid must carry exactly the data of a seal the genuine signer signed
(keys in any order, any whitespace: the signature covers the canonical form).
"""

from __future__ import annotations

import json

import atheris

with atheris.instrument_imports(include=["certs"]):
    import rfc8785

    from certs.vds import VdsError, parse_seal, seal_json, verify_seal

import _harness

MAX_LEN = 20000  # past the parser's 16 KiB limit, so the limit itself is tried


def test_one_input(data: bytes) -> None:
    genuine = _harness.genuine_seal()
    try:
        seal = parse_seal(data)
    except VdsError as exc:
        assert exc.code and exc.message
        return
    result = verify_seal(seal, genuine.trust)
    json.dumps(result.to_json())  # what a verifier prints
    if result.valid:
        signed = {rfc8785.dumps(s["data"]) for s in genuine.seals}
        assert rfc8785.dumps(seal["data"]) in signed, "changed seal data verified"


def seeds() -> list[bytes]:
    out = []
    for seal in _harness.genuine_seal().seals:
        out.append(seal_json(seal).encode())
        out.append(json.dumps(seal, indent=2, sort_keys=True).encode())
    return out


if __name__ == "__main__":
    _harness.genuine_seal()
    _harness.main(test_one_input, seeds, MAX_LEN)
