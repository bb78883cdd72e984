"""atheris target B05: shc:/ numeric values and chunk assembly, then verification.

The input is the text of one value, or of chunks one a line. Only CertError may
come out, a value that decodes must encode back to itself, and what verifies must
be a genuine card.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["certs"]):
    from certs import CertError, from_numeric, to_numeric, verify

import _harness

MAX_LEN = 8192  # three chunks of a spec card are about 4,000 digits


def test_one_input(data: bytes) -> None:
    text = data.decode("latin-1")
    lines = text.split("\n")
    value: str | list[str] = lines if len(lines) > 1 else text
    try:
        jws = from_numeric(value)
    except CertError as exc:
        assert exc.code and exc.message
        return
    assert all(45 <= ord(c) <= 122 for c in jws)
    if isinstance(value, str) and value.strip().count("/") == 1:
        assert to_numeric(jws) == value.strip(), "one value decoded two ways"
    genuine = _harness.genuine_shc()
    if verify(jws, genuine.keys).valid:
        assert jws in genuine.jwss, "a changed QR value verified"


def seeds() -> list[bytes]:
    return [v.encode() for v in _harness.numeric_values()]


if __name__ == "__main__":
    _harness.genuine_shc()
    _harness.main(test_one_input, seeds, MAX_LEN)
