"""Issuing: bundle shape, signing, QR rules, the printed page read back, time."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from PIL import Image
from pyzbar import pyzbar

from certs import (
    VACCINES,
    IssuerKey,
    KeySets,
    build_bundle,
    from_numeric,
    render_pdf,
    render_png,
    sample,
    sign,
    to_numeric,
    verify,
)
from certs.errors import CertError, Code
from certs.jws import b64url_decode, inflate
from certs.qr import MAX_VERSION, qr_symbol, version


def issue(key: IssuerKey, n: int = 3, overseas: bool = False, **claims: object) -> str:
    return sign(
        key,
        sample.ISS,
        build_bundle(sample.person(overseas), sample.doses(n), overseas=overseas),
        **claims,
    )


def payload_of(jws: str) -> dict:
    return json.loads(inflate(b64url_decode(jws.split(".")[1])))


def test_bundle_follows_the_qr_rules_and_japans_shape() -> None:
    bundle = build_bundle(sample.person(True), sample.doses(3), overseas=True)
    text = json.dumps(bundle, ensure_ascii=False)
    for forbidden in ('"id"', '"meta"', '"text"', '"display": "'):
        assert forbidden not in text.replace('"display": "MHLW_Gov_of_JAPAN"', "")
    patient = bundle["entry"][0]["resource"]
    assert patient["name"][0] == {"use": "usual", "family": "見本", "given": ["花子"]}
    assert patient["name"][1] == {"family": "MIHON", "given": ["HANAKO"]}
    immunizations = [e["resource"] for e in bundle["entry"][1:]]
    assert [i["patient"]["reference"] for i in immunizations] == ["resource:0"] * 3
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        "resource:0",
        "resource:1",
        "resource:2",
        "resource:3",
    ]
    assert [i["vaccineCode"]["coding"][0]["code"] for i in immunizations] == ["208", "208", "207"]


def test_domestic_certificates_carry_no_romanized_name() -> None:
    bundle = build_bundle(sample.person(True), sample.doses(2))
    assert len(bundle["entry"][0]["resource"]["name"]) == 1


def test_overseas_without_passport_data_is_refused() -> None:
    with pytest.raises(CertError) as err:
        build_bundle(sample.person(False), sample.doses(2), overseas=True)
    assert err.value.code is Code.BAD_INPUT


def test_cvx_table_has_one_code_per_product() -> None:
    codes = [v.cvx for v in VACCINES.values()]
    assert len(codes) == len(set(codes)) and "207" in codes


def test_signed_card_is_minified_deflated_es256(issuer_key: IssuerKey, trusted: KeySets) -> None:
    jws = issue(issuer_key)
    header = json.loads(b64url_decode(jws.split(".")[0]))
    assert header == {"alg": "ES256", "zip": "DEF", "kid": issuer_key.kid}
    assert len(b64url_decode(jws.split(".")[2])) == 64
    raw = inflate(b64url_decode(jws.split(".")[1]))
    assert b" " not in raw.replace("見本　".encode(), b"") and b"\n" not in raw
    assert verify(jws, trusted).valid


def test_kid_is_the_rfc7638_thumbprint() -> None:
    from certs.jws import thumbprint

    # RFC 7638 section 3.1 uses an RSA key; this is the spec example issuer's EC key
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "11XvRWy1I2S0EyJlyf_bWfw_TQ5CJJNLw78bHXNxcgw",
        "y": "eZXwxvO1hvCY0KucrPfKo7yAyMT6Ajc3N7OkAB6VYy8",
    }
    assert thumbprint(jwk) == "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"


def test_published_key_set_has_no_private_part(issuer_key: IssuerKey) -> None:
    (key,) = issuer_key.jwks()["keys"]
    assert "d" not in key
    assert {key["kty"], key["crv"], key["use"], key["alg"]} == {"EC", "P-256", "sig", "ES256"}


def test_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "issuer.key.pem"
    first = IssuerKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert IssuerKey.load_or_create(path).kid == first.kid


def test_a_card_from_another_issuer_is_unknown(trusted: KeySets) -> None:
    result = verify(issue(IssuerKey.generate()), trusted)
    assert [p.code for p in result.problems] == [Code.UNKNOWN_KEY]


def test_not_yet_valid_and_expired(issuer_key: IssuerKey, trusted: KeySets) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with freeze_time(start):
        jws = issue(issuer_key, exp=int((start + timedelta(days=365)).timestamp()))
        assert verify(jws, trusted).valid
    with freeze_time(start - timedelta(hours=1)):
        assert [p.code for p in verify(jws, trusted).problems] == [Code.NOT_YET_VALID]
    with freeze_time(start + timedelta(days=366)):
        assert [p.code for p in verify(jws, trusted).problems] == [Code.EXPIRED]


@pytest.mark.parametrize("n,overseas", [(2, False), (5, True)])
def test_qr_is_level_l_smallest_version_at_most_22(
    issuer_key: IssuerKey, n: int, overseas: bool
) -> None:
    import qrcode
    import qrcode.util

    numeric = to_numeric(issue(issuer_key, n, overseas))
    ours = version(qr_symbol(numeric))
    # the same content built segment by segment (byte "shc:/", then numeric), fit=True
    ref = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L)
    ref.add_data(qrcode.util.QRData(b"shc:/", mode=qrcode.util.MODE_8BIT_BYTE))
    ref.add_data(qrcode.util.QRData(numeric[5:], mode=qrcode.util.MODE_NUMBER))
    ref.make(fit=True)
    assert ours == ref.version <= MAX_VERSION


def test_numeric_encoding_round_trips_and_rejects_junk() -> None:
    assert to_numeric("-") == "shc:/00" and to_numeric("z") == "shc:/77"
    assert from_numeric(to_numeric("eyJ.abc_-")) == "eyJ.abc_-"
    for bad in ("shc:/1", "shc:/78", "http://x", "shc:/1/2/0000", ["shc:/1/2/00", "shc:/1/2/00"]):
        with pytest.raises(CertError) as err:
            from_numeric(bad)
        assert err.value.code is Code.BAD_QR


def test_oversized_cards_are_refused() -> None:
    with pytest.raises(CertError) as err:
        qr_symbol("shc:/" + "55" * 1300)
    assert err.value.code is Code.TOO_LARGE


def _page(issuer_key: IssuerKey, overseas: bool) -> tuple[str, bytes, bytes]:
    jws = issue(issuer_key, 3, overseas)
    page = sample.printable(to_numeric(jws), "38206000000042", date(2026, 11, 27), overseas)
    return jws, render_png(page), render_pdf(page)


@pytest.mark.parametrize("overseas", [False, True])
def test_printed_qr_reads_back_with_an_independent_decoder(
    issuer_key: IssuerKey, trusted: KeySets, tmp_path: Path, overseas: bool
) -> None:
    """zbar (not the zxing-cpp that wrote it) reads the QR from the PNG and from the PDF."""
    jws, png, pdf = _page(issuer_key, overseas)
    image = Image.open(io.BytesIO(png))
    assert image.size == (1654, 2339)  # A4 at 200 dpi
    (found,) = [s for s in pyzbar.decode(image) if s.type == "QRCODE"]
    assert from_numeric(found.data.decode()) == jws
    (tmp_path / "c.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", tmp_path / "c.pdf", tmp_path / "p"], check=True
    )
    (found,) = pyzbar.decode(Image.open(tmp_path / "p-1.png"))
    assert from_numeric(found.data.decode()) == jws
    assert verify(from_numeric(found.data.decode()), trusted).valid
