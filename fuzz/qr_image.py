"""atheris target B05: image files (PNG, JPEG, GIF, BMP, WebP) to QR values to verification.

Pillow and zxing-cpp are native code that atheris does not see into: coverage comes
from certs only, so this target is mostly a mutation search around genuine QR
pictures. PNG chunks get their CRCs recomputed first, as an attacker's would be,
so mutations reach the decoder instead of its checksum test. Only CertError may
come out, and what verifies must be a genuine card.
"""

from __future__ import annotations

import io
import struct
import zlib

import atheris

with atheris.instrument_imports(include=["certs"]):
    from certs import CertError, from_numeric, open_image, qr_image, read_image, verify

import _harness

MAX_LEN = 65536


PNG = b"\x89PNG\r\n\x1a\n"


def fix_png_crcs(data: bytes) -> bytes:
    out, pos = bytearray(data), len(PNG)
    while data.startswith(PNG) and pos + 12 <= len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        end = pos + 8 + n
        if end + 4 > len(data):
            break
        struct.pack_into(">I", out, end, zlib.crc32(data[pos + 4 : end]))
        pos = end + 4
    return bytes(out)


def test_one_input(data: bytes) -> None:
    genuine = _harness.genuine_shc()
    try:
        image = open_image(fix_png_crcs(data))
        values = read_image(image) if image is not None else []
        for value in values:
            jws = from_numeric(value)
            if verify(jws, genuine.keys).valid:
                assert jws in genuine.jwss, "a changed QR picture verified"
    except CertError as exc:
        assert exc.code and exc.message


def seeds() -> list[bytes]:
    out = []
    for value in _harness.numeric_values():
        try:
            picture = qr_image(value, module_px=2).convert("L")
        except CertError:  # chunks, or a spec card too long for the one QR this project writes
            continue
        for fmt in ("PNG", "JPEG", "GIF", "BMP"):
            buf = io.BytesIO()
            picture.save(buf, fmt)
            out.append(buf.getvalue())
    return out


if __name__ == "__main__":
    _harness.genuine_shc()
    _harness.main(test_one_input, seeds, MAX_LEN)
