"""The ICAO VDS-NC seal: build, sign, QR, read, verify, and every refusal with its reason."""

from __future__ import annotations

import base64
import copy
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from certs import read_image, sample, vds_pki
from certs.vds import (
    EKU_VDS_NC,
    SealSigner,
    VdsCode,
    VdsError,
    document_type_list,
    load_csca,
    parse_seal,
    seal_data,
    seal_json,
    sign_seal,
    verify_seal,
)
from tests.hypothesis_profiles import fuzz

T0 = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Pki:
    csca: x509.Certificate
    signer: SealSigner
    csca_key: Any


@pytest.fixture(scope="module")
def pki() -> Pki:
    key, csca = vds_pki.make_csca(T0)
    return Pki(csca, vds_pki.make_signer(key, csca, T0), key)


def data(uvci: str = "3820590123456789") -> dict[str, Any]:
    return sample.seal_payload(uvci, 3)


@pytest.fixture(scope="module")
def genuine(pki: Pki) -> dict[str, Any]:
    return pki.signer.sign(data())


@pytest.fixture
def seal(genuine: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(genuine)


def check(seal: dict[str, Any] | str, pki: Pki, at: datetime = T0) -> VdsCode | None:
    return verify_seal(seal, [pki.csca], at=at).code


def test_data_follows_the_guidelines_field_names() -> None:
    d = data()
    assert d["hdr"] == {"t": "icao.vacc", "v": 1, "is": "JPN"}
    assert d["msg"]["uvci"] == "3820590123456789"
    assert d["msg"]["pid"] == {"n": "MIHON  HANAKO", "dob": "1980-04-01", "i": "TZ0000000"}
    pfizer, moderna = d["msg"]["ve"]  # one event per product, doses in order
    assert (pfizer["des"], pfizer["nam"], pfizer["dis"]) == ("XM0GQ8", "Comirnaty", "RA01.0")
    assert [v["seq"] for v in pfizer["vd"]] == [1, 2]
    assert moderna["nam"] == "Spikevax"
    assert moderna["vd"] == [
        {"dvc": "2022-01-15", "seq": 3, "ctr": "JPN", "adm": "MHLW_Gov_of_JAPAN", "lot": "3005236"}
    ]


def test_a_long_name_is_cut_to_39_characters_as_on_a_passport() -> None:
    d = seal_data(
        uvci="X1",
        family="WOLFESCHLEGELSTEINHAUSENBERGERDORFF",
        given="HUBERT BLAINE",
        birth_date=date(1980, 1, 1),
        passport_number="TZ1",
        doses=sample.doses(1),
        centre="C",
    )
    assert len(d["msg"]["pid"]["n"]) == 39


def test_round_trip_sign_qr_decode_verify(pki: Pki, seal: dict[str, Any]) -> None:
    text = seal_json(seal)
    symbol = zxingcpp.create_barcode(
        text.encode("utf-8"), zxingcpp.BarcodeFormat.QRCode, ec_level="L"
    )
    raw = symbol.to_image(scale=4, add_quiet_zones=True)
    image = Image.frombytes("L", (raw.shape[1], raw.shape[0]), bytes(memoryview(raw)))
    [read] = read_image(image)
    result = verify_seal(parse_seal(read), [pki.csca], at=T0)
    assert result.valid, result.message
    assert result.uvci == "3820590123456789"
    assert result.data == seal["data"]
    assert result.csca == pki.csca


def test_the_signature_is_raw_r_s_and_fields_are_padded_base64url(seal: dict[str, Any]) -> None:
    sig = seal["sig"]
    assert sig["alg"] == "ES256"
    assert sig["sigvl"].endswith("=") and len(sig["sigvl"]) == 88  # 64 bytes, padded
    assert "+" not in sig["cer"] and "/" not in sig["cer"]


def test_unpadded_base64url_from_other_issuers_is_read(pki: Pki, seal: dict[str, Any]) -> None:
    bare = copy.deepcopy(seal)
    bare["sig"]["sigvl"] = bare["sig"]["sigvl"].rstrip("=")
    bare["sig"]["cer"] = bare["sig"]["cer"].rstrip("=")
    assert check(bare, pki) is None


def test_reordered_keys_and_whitespace_still_verify(pki: Pki, seal: dict[str, Any]) -> None:
    def reverse(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: reverse(x[k]) for k in reversed(list(x))}
        return [reverse(v) for v in x] if isinstance(x, list) else x

    text = json.dumps(reverse(seal), indent=3, ensure_ascii=True)
    assert text != seal_json(seal)
    assert check(text, pki) is None


def leaves(x: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, (*path, i))
    else:
        yield path, x


def changed(value: Any) -> Any:
    """Another value of the same form: a dose number +1, a date a day later, a letter swapped."""
    if isinstance(value, int):
        return value + 1
    try:
        return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    except ValueError:
        pass
    last = value[-1]
    return value[:-1] + ("B" if last == "A" else "0" if last.isdigit() and last != "0" else "A")


def test_a_change_to_any_field_of_data_is_refused(pki: Pki, seal: dict[str, Any]) -> None:
    paths = list(leaves(seal["data"]))
    assert len(paths) == 3 + 1 + 3 + 2 * 3 + 3 * 5  # hdr, uvci, pid, 2 events, 3 doses
    for path, value in paths:
        forged = copy.deepcopy(seal)
        target = forged["data"]
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = changed(value)
        expected = VdsCode.WRONG_TYPE if path in (("hdr", "t"), ("hdr", "v")) else None
        code = check(forged, pki) if expected is None else _refusal(forged, pki)
        assert code == (expected or VdsCode.BAD_SIGNATURE), path


def _refusal(seal: dict[str, Any], pki: Pki) -> VdsCode:
    with pytest.raises(VdsError) as exc:
        verify_seal(seal, [pki.csca], at=T0)
    return exc.value.code


def test_a_changed_signature_is_refused(pki: Pki, seal: dict[str, Any]) -> None:
    forged = copy.deepcopy(seal)
    sig = forged["sig"]["sigvl"]
    forged["sig"]["sigvl"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    assert check(forged, pki) == VdsCode.BAD_SIGNATURE


def test_another_certificate_of_the_same_csca_is_refused(pki: Pki, seal: dict[str, Any]) -> None:
    other = vds_pki.make_signer(pki.csca_key, pki.csca, T0)
    forged = copy.deepcopy(seal)
    forged["sig"]["cer"] = other.sign(seal["data"])["sig"]["cer"]
    assert check(forged, pki) == VdsCode.BAD_SIGNATURE


def test_a_changed_certificate_is_refused(pki: Pki, seal: dict[str, Any]) -> None:
    # the signer's key kept, its validity stretched: the CSCA's signature no longer holds
    cert = pki.signer.cert
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    stamp = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ").encode()
    at = der.index(stamp)
    der[at : at + 2] = b"99"
    forged = copy.deepcopy(seal)
    forged["sig"]["cer"] = _b64(bytes(der))
    assert check(forged, pki) == VdsCode.UNTRUSTED


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def test_a_signer_outside_the_trust_list_is_refused(pki: Pki) -> None:
    [cn] = pki.csca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    rogue_key, rogue_csca = vds_pki.make_csca(T0, cn=str(cn.value))
    rogue = vds_pki.make_signer(rogue_key, rogue_csca, T0)  # same names, another key
    result = verify_seal(rogue.sign(data()), [pki.csca], at=T0)
    assert result.code == VdsCode.UNTRUSTED
    assert verify_seal(rogue.sign(data()), [pki.csca, rogue_csca], at=T0).valid


def test_an_expired_signer_is_refused(pki: Pki) -> None:
    short = vds_pki.make_signer(pki.csca_key, pki.csca, T0, life=timedelta(days=30))
    seal = short.sign(data())
    with freeze_time(T0 + timedelta(days=29)):
        assert verify_seal(seal, [pki.csca]).valid
    with freeze_time(T0 + timedelta(days=31)):
        result = verify_seal(seal, [pki.csca])
    assert result.code == VdsCode.EXPIRED
    assert "signer" in result.message


def test_a_signer_not_yet_valid_is_refused(pki: Pki, seal: dict[str, Any]) -> None:
    assert check(seal, pki, at=T0 - timedelta(hours=1)) == VdsCode.NOT_YET_VALID


def test_a_signer_without_the_vds_nc_usage_is_refused(pki: Pki) -> None:
    tls_like = vds_pki.make_signer(pki.csca_key, pki.csca, T0, eku=False)
    assert check(tls_like.sign(data()), pki) == VdsCode.WRONG_USAGE


def test_a_signer_for_test_results_only_is_refused(pki: Pki) -> None:
    tests_only = vds_pki.make_signer(pki.csca_key, pki.csca, T0, doc_types=("NT",))
    assert document_type_list(tests_only.cert) == ["NT"]
    assert check(tests_only.sign(data()), pki) == VdsCode.WRONG_DOCUMENT_TYPE


def test_the_signer_profile(pki: Pki) -> None:
    cert = pki.signer.cert
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [EKU_VDS_NC]
    assert document_type_list(cert) == ["NV"]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.csca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=3650)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"data": {"hdr"', VdsCode.MALFORMED),  # truncated
        ("[]", VdsCode.MALFORMED),
        ('{"data": {}, "data": {}, "sig": {}}', VdsCode.MALFORMED),  # duplicate keys
        ('{"data": NaN, "sig": {}}', VdsCode.MALFORMED),
        ('{"sig": {}}', VdsCode.MISSING_FIELD),
        (" " * 20000 + "{}", VdsCode.TOO_LARGE),
    ],
)
def test_bad_text_is_refused_with_its_reason(text: str, code: VdsCode) -> None:
    with pytest.raises(VdsError) as exc:
        parse_seal(text)
    assert exc.value.code == code
    assert exc.value.message


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(VdsError) as exc:
        parse_seal(b'{"data": "\xff"}')
    assert exc.value.code == VdsCode.MALFORMED


def _edit(seal: dict[str, Any], path: tuple[Any, ...], value: Any) -> str:
    out = copy.deepcopy(seal)
    target = out
    for k in path[:-1]:
        target = target[k]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(out)


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        (("sig", "alg"), "ES384", VdsCode.BAD_ALG),
        (("sig", "alg"), "none", VdsCode.BAD_ALG),
        (("sig", "cer"), "bm90IGEgY2VydGlmaWNhdGU=", VdsCode.BAD_CERTIFICATE),
        (("sig", "cer"), "not base64!", VdsCode.BAD_CERTIFICATE),
        (("sig", "sigvl"), "AAAA", VdsCode.BAD_SIGNATURE),
        (("data", "msg", "pid", "n"), 42, VdsCode.BAD_FIELD),
        (("data", "msg", "pid", "n"), "X" * 40, VdsCode.BAD_FIELD),
        (("data", "msg", "pid", "dob"), "1980-02-30", VdsCode.BAD_FIELD),
        (("data", "msg", "pid", "extra"), "hidden", VdsCode.BAD_FIELD),
        (("data", "msg", "ve"), [], VdsCode.BAD_FIELD),
        (("data", "msg", "ve", 0, "vd", 0, "seq"), True, VdsCode.BAD_FIELD),
        (("data", "msg", "ve", 0, "vd", 0, "seq"), 2**60, VdsCode.BAD_FIELD),
        (("data", "msg", "ve", 0, "vd", 0, "ctr"), "jpn", VdsCode.BAD_FIELD),
        (("data", "msg", "uvci"), _DELETE, VdsCode.MISSING_FIELD),
        (("data", "hdr", "v"), 1.0, VdsCode.WRONG_TYPE),
        (("data", "hdr", "t"), "icao.test", VdsCode.WRONG_TYPE),
    ],
)
def test_bad_fields_are_refused_with_their_reason(
    seal: dict[str, Any], path: tuple[Any, ...], value: Any, code: VdsCode
) -> None:
    with pytest.raises(VdsError) as exc:
        parse_seal(_edit(seal, path, value))
    assert exc.value.code == code, exc.value.message


def test_a_message_never_names_the_holder(seal: dict[str, Any]) -> None:
    with pytest.raises(VdsError) as exc:
        parse_seal(_edit(seal, ("data", "msg", "pid", "n"), "MIHON  HANAKO" + "X" * 30))
    assert "MIHON" not in str(exc.value)


@pytest.mark.security("B09")
@fuzz(300)
@given(st.binary(max_size=3000))
def test_any_bytes_give_a_seal_or_a_vds_error(raw: bytes) -> None:
    try:
        assert isinstance(parse_seal(raw), dict)
    except VdsError as exc:
        assert exc.code in VdsCode and exc.message


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.security("B09")
@fuzz(300)
@given(st.data())
def test_any_change_to_a_genuine_seal_gives_a_verdict_or_a_vds_error(
    pki: Pki, genuine: dict[str, Any], draw: st.DataObject
) -> None:
    seal = genuine
    paths = [p for p, _ in leaves(seal)]
    path = draw.draw(st.sampled_from(paths))
    text = _edit(seal, path, draw.draw(_json))
    try:
        result = verify_seal(text, [pki.csca], at=T0)
    except VdsError as exc:
        assert exc.code in VdsCode
    else:
        assert not result.valid or json.loads(text) == seal


def test_load_csca_reads_a_file_a_folder_and_der(tmp_path: Path, pki: Pki) -> None:
    pem = pki.csca.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "csca.pem").write_bytes(pem)
    assert load_csca(tmp_path / "csca.pem") == [pki.csca]
    (tmp_path / "other.der").write_bytes(pki.csca.public_bytes(serialization.Encoding.DER))
    (tmp_path / "README").write_text("not a certificate")
    assert load_csca(tmp_path) == [pki.csca, pki.csca]


@pytest.mark.parametrize("content", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_load_csca_refuses_what_is_no_certificate(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.pem").write_bytes(content)
    with pytest.raises(VdsError) as exc:
        load_csca(tmp_path / "x.pem")
    assert exc.value.code == VdsCode.BAD_TRUST_LIST


def test_load_csca_refuses_a_signer_and_a_missing_file(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "s.pem").write_bytes(pki.signer.cert.public_bytes(serialization.Encoding.PEM))
    for path in (tmp_path / "s.pem", tmp_path / "absent.pem"):
        with pytest.raises(VdsError) as exc:
            load_csca(path)
        assert exc.value.code == VdsCode.BAD_TRUST_LIST


def test_sign_seal_refuses_another_curve(pki: Pki) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(VdsError) as exc:
        sign_seal(data(), ec.generate_private_key(ec.SECP384R1()), pki.signer.cert)
    assert exc.value.code == VdsCode.BAD_ALG


# --- the instance's development PKI -----------------------------------------------------------


def test_first_run_makes_the_pki_without_the_csca_key(tmp_path: Path) -> None:
    folder = tmp_path / "vds-pki"
    with freeze_time(T0):
        signer = vds_pki.load_or_create(folder)
        again = vds_pki.load_or_create(folder)
    assert again.cert == signer.cert
    assert sorted(p.name for p in folder.iterdir()) == ["csca.pem", "signer.key.pem", "signer.pem"]
    assert stat.S_IMODE((folder / "signer.key.pem").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in (folder / "csca.pem").read_bytes()
    assert b"PRIVATE KEY" not in (folder / "signer.pem").read_bytes()
    [csca] = load_csca(folder / "csca.pem")
    assert csca.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)[0].value == "JP"
    assert verify_seal(signer.sign(data()), [csca], at=T0).valid


def test_after_its_key_usage_period_a_new_signer_and_csca_are_made(tmp_path: Path) -> None:
    folder = tmp_path / "vds-pki"
    with freeze_time(T0):
        first = vds_pki.load_or_create(folder)
        old_seal = first.sign(data())
    later = T0 + vds_pki.SIGNER_PKUP + timedelta(days=1)
    with freeze_time(later):
        second = vds_pki.load_or_create(folder)
    assert second.cert != first.cert
    trust = load_csca(folder / "csca.pem")
    assert len(trust) == 2
    assert verify_seal(old_seal, trust, at=later).valid  # seals signed before still verify
    assert verify_seal(second.sign(data()), trust, at=later).valid


EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # the OID 1.2.840.10045.2.1, DER


@pytest.mark.security("B09")
@pytest.mark.parametrize(
    ("old", "new"),
    [
        # the subject's common name (a UTF8String) made invalid UTF-8: cryptography
        # parses a name only when it is first read
        (b"VDS-NC signer", b"\xffDS-NC signer"),
        # the key's algorithm an unknown OID (1.2.840.10045.2.99): UnsupportedAlgorithm
        (EC_PUBLIC_KEY, EC_PUBLIC_KEY[:-1] + b"\x63"),
        # version 4 (the INTEGER 3), which X.509 does not have: InvalidVersion
        (bytes.fromhex("a003020102"), bytes.fromhex("a003020103")),
        # the subject's common name a BIT STRING: TypeError from cryptography's Name
        (b"\x0c\x1dkiosk-sim VDS-NC", b"\x03\x1d\x00iosk-sim VDS-NC"),
    ],
)
def test_a_certificate_cryptography_cannot_read_is_refused_at_once(
    seal: dict[str, Any], old: bytes, new: bytes
) -> None:
    # both found by fuzz/vds_seal.py
    der = base64.urlsafe_b64decode(seal["sig"]["cer"])
    broken = der.replace(old, new, 1)
    assert broken != der
    with pytest.raises(VdsError) as exc:
        parse_seal(_edit(seal, ("sig", "cer"), _b64(broken)))
    assert exc.value.code == VdsCode.BAD_CERTIFICATE


def test_a_seal_error_has_the_one_error_shape() -> None:
    """{error, message} as every error of the project (certs.errors.CodedError), never {code}."""
    from certs import CertError, Code

    seal = VdsError(VdsCode.BAD_ALG, "not ES256")
    assert seal.to_json() == {"error": "bad_alg", "message": "not ES256"}
    assert str(seal) == "not ES256 [bad_alg]"
    assert CertError(Code.BAD_QR, "no QR").to_json() == {"error": "bad_qr", "message": "no QR"}
    assert not isinstance(seal, CertError)  # its own root: `except CertError` does not catch it
