"""Issuing: bundle shape, signing, the QR's segments, time, issuer binding."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import qrcode
import qrcode.util
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from freezegun import freeze_time

from certs import (
    VACCINES,
    CertError,
    Code,
    Dose,
    IssuerKey,
    KeySets,
    build_bundle,
    clock,
    from_numeric,
    sample,
    sign,
    to_numeric,
    verify,
)
from certs.jws import b64url, b64url_decode, deflate, inflate, minify, thumbprint
from certs.qr import MAX_VERSION, modules, qr_symbol, version


def issue(key: IssuerKey, n: int = 3, overseas: bool = False, **claims: object) -> str:
    bundle = build_bundle(sample.person(overseas), sample.doses(n), overseas=overseas)
    return sign(key, sample.ISS, bundle, **claims)


def payload_of(jws: str) -> dict:
    return json.loads(inflate(b64url_decode(jws.split(".")[1])))


def sign_raw(key: ec.EllipticCurvePrivateKey, header: dict, body: bytes) -> str:
    """A JWS built by hand, for cards that ``sign`` would never make."""
    signing_input = f"{b64url(minify(header))}.{b64url(deflate(body))}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture(scope="module")
def raw_key() -> tuple[ec.EllipticCurvePrivateKey, IssuerKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    return private, IssuerKey(private)


def test_bundle_follows_the_qr_rules_and_japans_shape() -> None:
    bundle = build_bundle(sample.person(True), sample.doses(3), overseas=True)

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for v in node.values() for k in keys(v)}
        return {k for v in node for k in keys(v)} if isinstance(node, list) else set()

    assert not keys(bundle) & {"id", "meta", "text"}
    immunizations = [e["resource"] for e in bundle["entry"][1:]]
    # the only display is the performer's (a Reference.display, which the rules allow)
    assert {json.dumps(i["performer"]) for i in immunizations} == {
        '[{"actor": {"display": "MHLW_Gov_of_JAPAN"}}]'
    }
    assert all("display" not in c for i in immunizations for c in i["vaccineCode"]["coding"])
    patient = bundle["entry"][0]["resource"]
    assert patient["name"][0] == {"use": "usual", "family": "見本", "given": ["花子"]}
    assert patient["name"][1] == {"family": "MIHON", "given": ["HANAKO"]}
    assert [e["fullUrl"] for e in bundle["entry"]] == [f"resource:{i}" for i in range(4)]
    assert [i["patient"]["reference"] for i in immunizations] == ["resource:0"] * 3
    assert [i["vaccineCode"]["coding"][0]["code"] for i in immunizations] == ["208", "208", "207"]
    assert [i["lotNumber"] for i in immunizations] == ["FA5765", "FA7338", "3005236"]


def test_domestic_certificates_carry_no_romanized_name() -> None:
    bundle = build_bundle(sample.person(True), sample.doses(2))
    assert len(bundle["entry"][0]["resource"]["name"]) == 1


def test_overseas_without_passport_data_is_refused() -> None:
    with pytest.raises(CertError) as err:
        build_bundle(sample.person(False), sample.doses(2), overseas=True)
    assert err.value.code is Code.BAD_INPUT
    assert "見本" not in str(err.value)  # never personal data in a message


def test_cvx_table_has_one_code_per_product() -> None:
    codes = [v.cvx for v in VACCINES.values()]
    assert len(codes) == len(set(codes)) and "207" in codes
    with pytest.raises(CertError) as err:
        build_bundle(sample.person(), [Dose(1, date(2021, 6, 1), "sputnik", "X")])
    assert err.value.code is Code.UNKNOWN_PRODUCT


def test_signed_card_is_minified_deflated_es256(issuer_key: IssuerKey, trusted: KeySets) -> None:
    jws = issue(issuer_key)
    header = json.loads(b64url_decode(jws.split(".")[0]))
    assert header == {"alg": "ES256", "zip": "DEF", "kid": issuer_key.kid}
    assert len(b64url_decode(jws.split(".")[2])) == 64  # r‖s, not DER
    payload = payload_of(jws)
    assert inflate(b64url_decode(jws.split(".")[1])) == minify(payload)
    assert payload["vc"]["type"][0] == "https://smarthealth.cards#health-card"
    result = verify(jws, trusted)
    assert result.valid and not result.warnings


def test_issuer_url_must_be_https_without_trailing_slash(issuer_key: IssuerKey) -> None:
    for iss in ("http://vrs.localhost/issuer", "https://vrs.localhost/issuer/"):
        with pytest.raises(CertError):
            sign(issuer_key, iss, build_bundle(sample.person(), sample.doses(1)))


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # the spec's example issuer key and the kid it publishes for it
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "11XvRWy1I2S0EyJlyf_bWfw_TQ5CJJNLw78bHXNxcgw",
        "y": "eZXwxvO1hvCY0KucrPfKo7yAyMT6Ajc3N7OkAB6VYy8",
    }
    assert thumbprint(jwk) == "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"


def test_published_key_set_has_no_private_part(issuer_key: IssuerKey) -> None:
    (key,) = issuer_key.jwks()["keys"]
    assert "d" not in key and key["kid"] == issuer_key.kid == thumbprint(key)
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("EC", "P-256", "sig", "ES256")
    leaked = {"keys": [{**key, "d": "AAAA"}]}
    with pytest.raises(CertError) as err:
        KeySets().add_jwks(leaked, "leaky")
    assert err.value.code is Code.BAD_KEY_SET


def test_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "issuer.key.pem"
    first = IssuerKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert IssuerKey.load_or_create(path).kid == first.kid
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(CertError) as err:
        IssuerKey.load_or_create(tmp_path / "junk.pem")
    assert err.value.code is Code.BAD_KEY_SET


def test_a_card_from_another_issuer_is_unknown(trusted: KeySets) -> None:
    result = verify(issue(IssuerKey.generate()), trusted)
    assert [p.code for p in result.problems] == [Code.UNKNOWN_KEY]


def test_a_key_set_whose_kid_is_not_the_thumbprint_is_refused(
    raw_key: tuple[ec.EllipticCurvePrivateKey, IssuerKey],
) -> None:
    private, key = raw_key
    jwks = key.jwks()
    jwks["keys"][0]["kid"] = "not-a-thumbprint"
    keys = KeySets()
    keys.add_jwks(jwks, "odd")
    header = {"alg": "ES256", "zip": "DEF", "kid": "not-a-thumbprint"}
    result = verify(sign_raw(private, header, minify(payload_of(issue(key)))), keys)
    assert [p.code for p in result.problems] == [Code.BAD_KID]


def _x5c_key_set(key: IssuerKey, san: str, cert_key: ec.EllipticCurvePrivateKey) -> dict:
    """``key``'s key set, its key carrying a self-signed certificate of ``cert_key`` naming ``san``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test issuer")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(cert_key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), False)
        .sign(cert_key, hashes.SHA256())
    )
    jwks = key.jwks()
    jwks["keys"][0]["x5c"] = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]
    return jwks


def test_the_card_must_name_the_issuer_of_its_keys_certificate(
    raw_key: tuple[ec.EllipticCurvePrivateKey, IssuerKey],
) -> None:
    private, key = raw_key
    keys = KeySets()
    keys.add_jwks(_x5c_key_set(key, sample.ISS, private), "bound")
    assert verify(issue(key), keys).valid
    bundle = build_bundle(sample.person(), sample.doses(2))
    elsewhere = sign(key, "https://vc.vrs.digital.go.jp/issuer", bundle)
    assert [p.code for p in verify(elsewhere, keys).problems] == [Code.WRONG_ISSUER]
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertError) as err:  # the certificate holds another key
        KeySets().add_jwks(_x5c_key_set(key, sample.ISS, other), "mismatch")
    assert err.value.code is Code.BAD_KEY_SET


def test_a_non_minified_payload_is_valid_with_a_warning(
    raw_key: tuple[ec.EllipticCurvePrivateKey, IssuerKey],
) -> None:
    """Japan's real cards were not minified, and verifiers accepted them."""
    private, key = raw_key
    payload = payload_of(issue(key))
    body = json.dumps(payload, ensure_ascii=False, indent=1).encode()
    jws = sign_raw(private, {"alg": "ES256", "zip": "DEF", "kid": key.kid}, body)
    keys = KeySets()
    keys.add_jwks(key.jwks(), "test")
    result = verify(jws, keys)
    assert result.valid and [w.code for w in result.warnings] == [Code.NOT_MINIFIED]


def test_not_yet_valid_and_expired(issuer_key: IssuerKey, trusted: KeySets) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with freeze_time(start):
        jws = issue(issuer_key, exp=int((start + timedelta(days=365)).timestamp()))
        assert payload_of(jws)["nbf"] == int(start.timestamp())  # the issue time is the clock's
        assert verify(jws, trusted).valid
    with freeze_time(start - timedelta(seconds=30)):  # within the clock-skew allowance
        assert verify(jws, trusted).valid
    with freeze_time(start - timedelta(hours=1)):
        assert [p.code for p in verify(jws, trusted).problems] == [Code.NOT_YET_VALID]
    with freeze_time(start + timedelta(days=366)):
        assert [p.code for p in verify(jws, trusted).problems] == [Code.EXPIRED]


def test_the_issue_date_is_the_day_in_japan() -> None:
    with freeze_time("2026-03-31T15:30:00Z"):  # already April 1st in Japan
        assert clock.today_jst().isoformat() == "2026-04-01"


@pytest.mark.parametrize("n,overseas", [(2, False), (5, True)])
def test_qr_is_byte_then_numeric_level_l_smallest_version(
    issuer_key: IssuerKey, n: int, overseas: bool
) -> None:
    """zxing-cpp's symbol equals, module for module, one built from the two segments by hand."""
    numeric = to_numeric(issue(issuer_key, n, overseas))
    symbol = qr_symbol(numeric)
    (read,) = zxingcpp.read_barcodes(symbol.to_image(scale=2))
    assert read.text == numeric and read.extra["ECLevel"] == "L"
    ref = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_L,
        mask_pattern=int(read.extra["DataMask"]),  # the mask choice is free; match it
        border=0,
    )
    ref.add_data(qrcode.util.QRData(b"shc:/", mode=qrcode.util.MODE_8BIT_BYTE))
    ref.add_data(qrcode.util.QRData(numeric[5:], mode=qrcode.util.MODE_NUMBER))
    ref.make(fit=True)  # the smallest version that holds those segments
    assert modules(symbol) == ref.get_matrix()
    assert version(symbol) == ref.version <= MAX_VERSION


def test_numeric_encoding_round_trips_and_rejects_junk() -> None:
    assert to_numeric("-") == "shc:/00" and to_numeric("z") == "shc:/77"
    assert from_numeric(to_numeric("eyJ.abc_-")) == "eyJ.abc_-"
    bad = ["shc:/1", "shc:/78", "http://x", "shc:/１２", "shc:/1/2/0000", ["shc:/1/2/00"] * 2]
    for value in bad:
        with pytest.raises(CertError) as err:
            from_numeric(value)
        assert err.value.code is Code.BAD_QR
    with pytest.raises(CertError):
        to_numeric("eyJ~")


def test_oversized_cards_and_chunks_are_never_encoded() -> None:
    with pytest.raises(CertError) as err:
        qr_symbol("shc:/" + "55" * 1196)
    assert err.value.code is Code.TOO_LARGE
    assert version(qr_symbol("shc:/" + "55" * 1195)) == MAX_VERSION  # the spec's limit fits
    with pytest.raises(CertError) as err:
        qr_symbol("shc:/1/2/5555")
    assert err.value.code is Code.BAD_QR
