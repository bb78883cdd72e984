"""`kiosk-sim cert verify` on pages with both codes: a verdict per code, the checks between them."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from certs import (
    IssuerKey,
    build_bundle,
    make_payload,
    qr_image,
    sample,
    sign,
    to_numeric,
    vds_pki,
)
from certs.vds import seal_json
from kiosk_sim.cli import main
from tests.conftest import Cases
from tests.hypothesis_profiles import fuzz

ROOT = Path(__file__).resolve().parents[2]
CERT_ID = "3820590123456789"


@dataclass(frozen=True)
class Issuers:
    folder: Path
    shc_key: IssuerKey
    signer: vds_pki.SealSigner
    jwks: str  # file paths
    csca: str
    other_csca: str

    def shc(self, cert_id: str | None = CERT_ID, born: date | None = None) -> str:
        person = sample.person(overseas=True)
        if born:
            person = dataclasses.replace(person, birth_date=born)
        bundle = build_bundle(person, sample.doses(2), overseas=True, certificate_id=cert_id)
        return to_numeric(sign(self.shc_key, sample.ISS, bundle))

    def seal(self, uvci: str = CERT_ID, **changes: Any) -> str:
        data = sample.seal_payload(uvci, 2)
        seal = self.signer.sign(data)
        for key, value in changes.items():
            seal["sig"][key] = value
        return seal_json(seal)

    def page(self, name: str, *values: str) -> str:
        """A picture with each value's QR side by side, as a scanner would see a page."""
        symbols = [_qr(v) for v in values]
        sheet = Image.new("L", (sum(s.width for s in symbols), max(s.height for s in symbols)), 255)
        x = 0
        for s in symbols:
            sheet.paste(s, (x, 0))
            x += s.width
        path = self.folder / name
        if name.endswith(".pdf"):
            sheet.save(path, "PDF", resolution=200)
        else:
            sheet.save(path)
        return str(path)


def _qr(value: str) -> Image.Image:
    if value.startswith("shc:/"):
        return qr_image(value, module_px=4).convert("L")
    symbol = zxingcpp.create_barcode(value, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    raw = symbol.to_image(scale=4, add_quiet_zones=True)
    return Image.frombytes("L", (raw.shape[1], raw.shape[0]), bytes(memoryview(raw)))


@pytest.fixture(scope="module")
def issuers(tmp_path_factory: pytest.TempPathFactory) -> Issuers:
    folder = tmp_path_factory.mktemp("issuers")
    key = IssuerKey.generate()
    (folder / "jwks.json").write_text(json.dumps(key.jwks()))
    signer = vds_pki.load_or_create(folder / "vds")
    _, other = vds_pki.make_csca(signer.cert.not_valid_before_utc)
    (folder / "other-csca.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    return Issuers(
        folder,
        key,
        signer,
        str(folder / "jwks.json"),
        str(folder / "vds" / "csca.pem"),
        str(folder / "other-csca.pem"),
    )


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    rc = main(["cert", "verify", *argv, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def trust(issuers: Issuers) -> list[str]:
    return ["--jwks", issuers.jwks, "--csca", issuers.csca]


def codes(verdict: dict[str, Any]) -> list[str]:
    return [p["error"] for p in verdict["problems"]]


def test_an_shc_value_as_the_argument(issuers: Issuers, capsys: pytest.CaptureFixture[str]) -> None:
    value = issuers.shc()
    assert main(["cert", "verify", "--jwks", issuers.jwks, value]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID  SMART Health Card  (argument 1)")
    assert "MIHON HANAKO" in out and f"cert ID: {CERT_ID}" in out
    assert main(["cert", "verify", value]) == 1  # nobody said whom to trust
    out = capsys.readouterr().out
    assert out.startswith("UNVERIFIABLE") and "no issuer key set given (--jwks)" in out


@pytest.mark.parametrize("name", ["page.png", "page.pdf"])
def test_a_page_with_both_codes_gives_two_verdicts(
    issuers: Issuers, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    page = issuers.page(name, issuers.shc(), issuers.seal())
    rc, verdicts = run_json(capsys, *trust(issuers), page)
    assert rc == 0, verdicts
    assert sorted(v["kind"] for v in verdicts) == ["icao_seal", "shc"]
    assert all(v["status"] == "valid" and v["certificate_id"] == CERT_ID for v in verdicts)
    assert main(["cert", "verify", *trust(issuers), page]) == 0
    out = capsys.readouterr().out
    assert "VALID  ICAO seal" in out and f"UVCI:    {CERT_ID}" in out


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`cert sample` of each kind: the simulator's own printed page as PNG and PDF."""
    out = {}
    for kind in ("overseas", "domestic"):
        out[kind] = tmp_path_factory.mktemp(kind)
        flag = ["--overseas"] if kind == "overseas" else []
        assert main(["cert", "sample", "--out", str(out[kind]), *flag]) == 0
    return out


@pytest.mark.parametrize("name", ["certificate.pdf", "certificate.png"])
def test_the_printed_overseas_certificate_gives_two_valid_verdicts(
    printed: dict[str, Path], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    folder = printed["overseas"]
    trust = ["--jwks", str(folder / "jwks.json"), "--csca", str(folder / "csca.pem")]
    rc, verdicts = run_json(capsys, *trust, str(folder / name))
    assert rc == 0, verdicts
    assert sorted(v["kind"] for v in verdicts) == ["icao_seal", "shc"]
    assert {v["certificate_id"] for v in verdicts} == {"SAMPLE-0000000001"}
    assert {v["birth_date"] for v in verdicts} == {"1980-04-01"}
    page = f"{folder / name}, page 1" if name.endswith(".pdf") else str(folder / name)
    assert {v["source"] for v in verdicts} == {page}


def test_the_printed_domestic_certificate_gives_one_verdict(
    printed: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = printed["domestic"]
    rc, verdicts = run_json(
        capsys, "--jwks", str(folder / "jwks.json"), str(folder / "certificate.pdf")
    )
    assert rc == 0 and [v["kind"] for v in verdicts] == ["shc"]


def test_a_seal_whose_uvci_is_not_the_cards_id_fails_both(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    page = issuers.page("mixed.png", issuers.shc(), issuers.seal(uvci="3820590999999999"))
    rc, verdicts = run_json(capsys, *trust(issuers), page)
    assert rc == 1
    assert [codes(v) for v in verdicts] == [["id_mismatch"], ["id_mismatch"]]
    assert main(["cert", "verify", *trust(issuers), page]) == 1
    assert (
        "the seal's UVCI is not the SMART Health Card's certificate ID" in capsys.readouterr().out
    )


def test_other_birth_dates_or_no_card_id_on_one_page_fail(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    page = issuers.page("born.png", issuers.shc(born=date(1981, 4, 1)), issuers.seal())
    rc, verdicts = run_json(capsys, *trust(issuers), page)
    assert rc == 1 and [codes(v) for v in verdicts] == [["birth_date_mismatch"]] * 2
    page = issuers.page("noid.png", issuers.shc(cert_id=None), issuers.seal())
    rc, verdicts = run_json(capsys, *trust(issuers), page)
    assert rc == 1 and [codes(v) for v in verdicts] == [["id_mismatch"]] * 2
    assert "names no certificate ID" in verdicts[0]["problems"][0]["message"]


def test_a_broken_card_beside_a_seal_leaves_the_seal_valid(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    page = issuers.page("broken.png", "shc:/" + "56" * 30, issuers.seal())  # "eee…": no JWS
    rc, verdicts = run_json(capsys, *trust(issuers), page)
    card, seal = sorted(verdicts, key=lambda v: v["kind"] == "icao_seal")
    assert rc == 1 and codes(card) == ["malformed_jws"] and seal["status"] == "valid"


def test_a_seal_beside_two_other_cards_is_told_once(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    page = issuers.page("three.png", issuers.shc("1"), issuers.shc("2"), issuers.seal())
    rc, verdicts = run_json(capsys, *trust(issuers), page)
    assert rc == 1 and [codes(v) for v in verdicts] == [["id_mismatch"]] * 3


def test_a_cards_warnings_are_shown(issuers: Issuers, tmp_path: Path) -> None:
    """An issuer that revokes (crlVersion) with no revocation list given: valid, with a warning."""
    jwks = issuers.shc_key.jwks()
    jwks["keys"][0]["crlVersion"] = 1
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    bundle = build_bundle(sample.person(), sample.doses(1))
    jws = issuers.shc_key.sign_compact(make_payload(sample.ISS, bundle, rid="r1"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["cert", "verify", "--jwks", str(tmp_path / "jwks.json"), jws]) == 0
    assert "warning: " in out.getvalue() and "[revocation_unchecked]" in out.getvalue()


def test_codes_of_two_arguments_are_not_cross_checked(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, verdicts = run_json(capsys, *trust(issuers), issuers.shc(), issuers.seal(uvci="1"))
    assert rc == 0 and [v["source"] for v in verdicts] == ["argument 1", "argument 2"]


def test_a_csca_list_without_the_signers_csca_refuses_the_seal(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    page = issuers.page("untrusted.png", issuers.shc(), issuers.seal())
    rc, verdicts = run_json(capsys, "--jwks", issuers.jwks, "--csca", issuers.other_csca, page)
    assert rc == 1
    seal = next(v for v in verdicts if v["kind"] == "icao_seal")
    assert codes(seal) == ["untrusted"]
    both = ["--csca", issuers.other_csca, "--csca", issuers.csca]  # repeatable: either may issue
    assert main(["cert", "verify", "--jwks", issuers.jwks, *both, page]) == 0


def test_a_seal_without_a_trust_list_is_unverifiable(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, (verdict,) = run_json(capsys, issuers.seal())
    assert rc == 1 and verdict["status"] == "unverifiable" and verdict["problems"] == []
    assert "--csca" in verdict["unverifiable"]["message"]
    sig = json.loads(issuers.seal())["sig"]["sigvl"]
    forged = issuers.seal(sigvl=sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:])
    rc, (verdict,) = run_json(capsys, forged)  # a broken signature needs no trust list
    assert rc == 1 and verdict["status"] == "invalid" and codes(verdict) == ["bad_signature"]


def test_a_signer_certificate_with_an_unreadable_name_is_a_bad_certificate(
    issuers: Issuers, capsys: pytest.CaptureFixture[str]
) -> None:
    """cryptography parses a certificate's names only when asked: found by fuzz/cert_input.py."""
    der = issuers.signer.cert.public_bytes(serialization.Encoding.DER)
    cn = issuers.signer.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    at = der.rindex(str(cn).encode()) - 2  # the subject's CN: its UTF8String tag
    bad = der[:at] + b"\x02" + der[at + 1 :]  # now an INTEGER, which no name holds
    seal = issuers.seal(cer=base64.urlsafe_b64encode(bad).decode())
    for argv in ([seal], ["--csca", issuers.csca, seal]):
        rc, (verdict,) = run_json(capsys, *argv)
        assert rc == 1 and "bad_certificate" in codes(verdict)


def test_bad_input_gets_a_reason_and_exit_1_or_2(
    issuers: Issuers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seal = issuers.seal()
    wrong_alg = issuers.seal(alg="ES384")
    (tmp_path / "not-x509.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "binary").write_bytes(os.urandom(4096))
    huge = json.loads(seal)
    huge["data"]["msg"]["pad"] = "x" * 20_000
    (tmp_path / "huge.json").write_text(json.dumps(huge))
    cases = [
        ([seal[:-5]], 2, "is not strict JSON"),
        ([wrong_alg], 1, "bad_alg"),
        (["--csca", str(tmp_path / "not-x509.pem"), seal], 2, "holds no readable certificate"),
        ([str(tmp_path / "huge.json")], 1, "too_large"),
        ([str(tmp_path / "binary")], 2, "neither a JWS"),
        ([str(tmp_path / "missing.pdf")], 2, "No such file"),
    ]
    for argv, rc, reason in cases:
        assert main(["cert", "verify", "--csca", issuers.csca, *argv]) == rc, argv
        captured = capsys.readouterr()
        assert reason in captured.out + captured.err, (argv, captured)


@pytest.mark.parametrize("unbuffered", ["", "1"])  # the pipe breaks at exit, or at print
def test_a_reader_that_leaves_early_gets_no_traceback(issuers: Issuers, unbuffered: str) -> None:
    """`kiosk-sim cert verify … | head -1`: the pipe is closed before anything is written."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env |= {"PYTHONPATH": str(ROOT)} | ({"PYTHONUNBUFFERED": "1"} if unbuffered else {})
    read, write = os.pipe()
    command = ["cert", "verify", "--jwks", issuers.jwks, issuers.shc()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_sim.cli", *command],
        stdin=subprocess.DEVNULL,
        stdout=write,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    os.close(write)
    os.close(read)  # the reader is gone before the process prints
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert proc.returncode == 141


@pytest.mark.parametrize(
    ("closed", "arg", "rc"), [("<&-", "SHC", 0), ("<&-", "-", 2), (">&-", "SHC", 0)]
)
def test_a_closed_standard_stream_is_no_traceback(
    issuers: Issuers, closed: str, arg: str, rc: int
) -> None:
    """`kiosk-sim cert verify … <&-` or `>&-`: Python then has no sys.stdin or sys.stdout."""
    command = ["cert", "verify", "--jwks", issuers.jwks, issuers.shc() if arg == "SHC" else arg]
    run = subprocess.run(
        ["sh", "-c", f'exec "$@" {closed}', "sh", sys.executable, "-m", "kiosk_sim.cli", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert "Traceback" not in run.stderr and run.returncode == rc, run.stderr
    assert rc == 0 or "standard input is closed" in run.stderr


# --- the argument parser on anything ----------------------------------------------------------

WORDS = st.sampled_from(
    ["--jwks", "--csca", "--json", "-", "--", "shc:/", "shc:/00", "{", "{}", "eyJ.e.e", "."]
)


@pytest.fixture(scope="module")
def in_empty_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Relative names the strategies invent resolve in a folder of nothing."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.mark.security("B08")
@fuzz(150)
@given(argv=st.lists(WORDS | st.text(max_size=12), max_size=6))
def test_any_command_line_exits_0_1_or_2(
    cases: Cases, in_empty_folder: None, argv: list[str]
) -> None:
    cases()
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        mp.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"shc:/5676")))
        try:
            rc = main(["cert", "verify", *argv])
        except SystemExit as exc:  # argparse's own usage error
            rc = exc.code
    assert rc in (0, 1, 2), (argv, err.getvalue())
    assert "Traceback" not in err.getvalue()
