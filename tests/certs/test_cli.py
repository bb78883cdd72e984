"""`kiosk-sim cert sample | verify`, in process and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk_sim.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    assert main(["cert", "sample", "--out", str(out), "--overseas"]) == 0
    return out


def test_sample_writes_every_artifact_and_no_private_key(sample_dir: Path) -> None:
    names = {p.name for p in sample_dir.iterdir()}
    assert names == {
        "certificate.jws",
        "certificate.smart-health-card",
        "qr-numeric.txt",
        "qr.png",
        "certificate.png",
        "certificate.pdf",
        "jwks.json",
    }
    for p in sample_dir.iterdir():
        assert b"PRIVATE KEY" not in p.read_bytes()
    assert "d" not in json.loads((sample_dir / "jwks.json").read_text())["keys"][0]


@pytest.mark.parametrize(
    "name",
    [
        "certificate.jws",
        "certificate.smart-health-card",
        "qr-numeric.txt",
        "qr.png",
        "certificate.png",
    ],
)
def test_verify_accepts_every_form(
    sample_dir: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "cert",
            "verify",
            "--jwks",
            str(sample_dir / "jwks.json"),
            str(sample_dir / name),
            "--json",
        ]
    )
    (result,) = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["valid"] is True
    assert result["payload"]["iss"] == "https://vrs.localhost/issuer"


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


def test_unusable_input_exits_2(sample_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "blank.png").write_bytes((sample_dir / "qr.png").read_bytes()[:60])
    (tmp_path / "noqr.txt").write_text("shc:/12x")
    for bad in ("noqr.txt", "missing.jws", "blank.png"):
        assert (
            main(["cert", "verify", "--jwks", str(sample_dir / "jwks.json"), str(tmp_path / bad)])
            == 2
        )
    assert (
        main(
            [
                "cert",
                "verify",
                "--jwks",
                str(tmp_path / "nope.json"),
                str(sample_dir / "certificate.jws"),
            ]
        )
        == 2
    )


def test_verify_with_the_spec_issuer_folder_as_a_subprocess(vectors: Path, tmp_path: Path) -> None:
    chunks = sorted(vectors.glob("example-02-f-qr-code-numeric-value-*.txt"))
    (tmp_path / "chunks.txt").write_text("\n".join(c.read_text().strip() for c in chunks))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kiosk_sim.cli",
            "cert",
            "verify",
            "--jwks",
            str(vectors / "issuer"),
            str(vectors.parent / "japan-vrs-issuer-jwks.json"),
            str(tmp_path / "chunks.txt"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("VALID")
