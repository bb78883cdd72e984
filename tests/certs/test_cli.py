"""`kiosk-sim cert sample | verify`, in process and as the installed console script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from PIL import Image

from certs import IssuerKey, KeySets, read_image, to_numeric, verify
from certs.vds import load_csca, parse_seal, verify_seal
from kiosk_sim.cli import main

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = {
    "certificate.jws",
    "certificate.smart-health-card",
    "qr-numeric.txt",
    "qr.png",
    "certificate.png",
    "certificate.pdf",
    "jwks.json",
}
SEAL_ARTIFACTS = {"seal.json", "seal-qr.png", "csca.pem"}  # --overseas only


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    with freeze_time("2026-03-31T15:30:00Z"):  # April 1st in Japan
        assert main(["cert", "sample", "--out", str(out), "--overseas"]) == 0
    return out


def verify_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    rc = main(["cert", "verify", *argv, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_sample_writes_every_artifact_and_no_private_key(sample_dir: Path) -> None:
    assert {p.name for p in sample_dir.iterdir()} == ARTIFACTS | SEAL_ARTIFACTS
    for p in sample_dir.iterdir():
        assert b"PRIVATE KEY" not in p.read_bytes()
    (key,) = json.loads((sample_dir / "jwks.json").read_text())["keys"]
    assert "d" not in key
    assert (sample_dir / "qr-numeric.txt").read_text().startswith("shc:/")


def test_the_jws_and_numeric_files_end_without_a_newline(sample_dir: Path) -> None:
    # validators refuse surrounding whitespace in these two forms; the spec's files have none
    for name in ("certificate.jws", "qr-numeric.txt"):
        text = (sample_dir / name).read_bytes()
        assert text == text.strip() and text.count(b"\n") == 0, name


def test_the_overseas_sample_has_a_seal_that_verifies_and_names_its_certificate(
    sample_dir: Path, tmp_path: Path
) -> None:
    with freeze_time("2026-03-31T15:30:00Z"):
        check = verify_seal(
            parse_seal((sample_dir / "seal.json").read_bytes()),
            load_csca(sample_dir / "csca.pem"),
        )
    assert check.valid, check.message
    [value] = read_image(Image.open(sample_dir / "seal-qr.png"))
    assert value == (sample_dir / "seal.json").read_text()
    jws = (sample_dir / "certificate.jws").read_text()
    bundle = verify(jws, KeySets()).payload["vc"]["credentialSubject"]["fhirBundle"]
    assert bundle["identifier"]["value"] == check.uvci == "SAMPLE-0000000001"
    assert sorted(read_image(Image.open(sample_dir / "certificate.png"))) == sorted(
        [value, to_numeric(jws)]
    )


@pytest.mark.parametrize("name", sorted(ARTIFACTS - {"jwks.json"}))
def test_verify_accepts_every_form(
    sample_dir: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = ["--jwks", str(sample_dir / "jwks.json"), "--csca", str(sample_dir / "csca.pem")]
    rc, results = verify_json(capsys, *trust, str(sample_dir / name))
    # the overseas page also carries the ICAO seal: a verdict each, both valid
    kinds = ["icao_seal", "shc"] if name in ("certificate.png", "certificate.pdf") else ["shc"]
    assert sorted(r["kind"] for r in results) == kinds
    assert rc == 0 and all(r["valid"] is True and r["problems"] == [] for r in results)
    [result] = [r for r in results if r["kind"] == "shc"]
    assert result["payload"]["iss"] == "https://vrs.localhost/issuer"
    assert result["payload"]["nbf"] == 1774971000  # the frozen clock's issue time


def test_verify_reads_the_printed_page_as_a_jpeg_photo(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = Image.open(sample_dir / "certificate.png").convert("L").resize((1240, 1754))  # 150 dpi
    photo.save(tmp_path / "photo.jpg", quality=70)
    rc, results = verify_json(
        capsys,
        *("--jwks", str(sample_dir / "jwks.json"), "--csca", str(sample_dir / "csca.pem")),
        str(tmp_path / "photo.jpg"),
    )
    assert rc == 0 and sorted(r["kind"] for r in results) == ["icao_seal", "shc"]
    assert all(r["valid"] for r in results)


def test_verify_reads_standard_input(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (sample_dir / "qr-numeric.txt").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["cert", "verify", "--jwks", str(sample_dir / "jwks.json"), "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and "MIHON HANAKO" in out and "Comirnaty" in out


def test_verify_says_why_and_exits_1(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jws = (sample_dir / "certificate.jws").read_text().strip()
    head, body, sig = jws.split(".")
    (tmp_path / "bad.jws").write_text(f"{head}.{body}.{sig[:-2]}AA")
    rc = main(
        ["cert", "verify", "--jwks", str(sample_dir / "jwks.json"), str(tmp_path / "bad.jws")]
    )
    out = capsys.readouterr().out
    assert rc == 1 and out.startswith("INVALID") and "[bad_signature]" in out


def test_every_jwks_option_counts(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--jwks A --jwks B INPUT` and `--jwks A B INPUT` both trust A and B."""
    other, ours = tmp_path / "other.json", str(sample_dir / "jwks.json")
    other.write_text(json.dumps(IssuerKey.generate().jwks()))
    jws = str(sample_dir / "certificate.jws")
    assert verify_json(capsys, "--jwks", ours, "--jwks", str(other), jws)[0] == 0
    assert verify_json(capsys, "--jwks", str(other), ours, jws)[0] == 0
    rc, (result,) = verify_json(capsys, "--jwks", str(other), jws)
    assert rc == 1 and [p["error"] for p in result["problems"]] == ["unknown_key"]


def test_unusable_input_exits_2(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cut.png").write_bytes((sample_dir / "qr.png").read_bytes()[:60])
    (tmp_path / "noqr.txt").write_text("shc:/12x")
    (tmp_path / "empty.smart-health-card").write_text('{"verifiableCredential": []}')
    (tmp_path / "list.smart-health-card").write_text("[1]")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    jwks = str(sample_dir / "jwks.json")
    for bad in ("noqr.txt", "missing.jws", "cut.png", "empty.smart-health-card", "binary"):
        assert main(["cert", "verify", "--jwks", jwks, str(tmp_path / bad)]) == 2, bad
    rc, out = verify_json(capsys, "--jwks", str(tmp_path / "nope.json"), jwks)
    assert rc == 2 and out["error"] == "unusable_input" and "nope.json" in out["message"]


def test_verify_the_spec_cards_with_the_installed_console_script(
    vectors: Path, tmp_path: Path
) -> None:
    """`.venv/bin/kiosk-sim` as a real process: chunked QR values, the issuer folder with its
    revocation list, and the archived Japanese key set."""
    script = Path(sys.executable).parent / "kiosk-sim"
    if not script.exists():
        pytest.skip(f"{script} missing: run `.venv/bin/pip install -e '.[dev]'` first")
    chunks = sorted(vectors.glob("example-02-f-qr-code-numeric-value-*.txt"))
    (tmp_path / "chunks.txt").write_text("\n".join(c.read_text().strip() for c in chunks))
    jwks = ["--jwks", str(vectors / "issuer"), str(vectors.parent / "japan-vrs-issuer-jwks.json")]
    run = subprocess.run(
        [script, "cert", "verify", *jwks, str(tmp_path / "chunks.txt")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("VALID") and "51 Observation" in run.stdout
    (tmp_path / "bad.jws").write_text((vectors / "example-00-d-jws.txt").read_text()[:-3] + "AAA")
    run = subprocess.run(
        [script, "cert", "verify", *jwks, str(tmp_path / "bad.jws"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (result,) = json.loads(run.stdout)
    assert run.returncode == 1 and [p["error"] for p in result["problems"]] == ["bad_signature"]
