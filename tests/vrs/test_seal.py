"""VRS signs an ICAO VDS-NC seal beside the SHC of every overseas certificate."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from flask.testing import FlaskClient

from certs import KeySets, from_numeric, verify
from certs.fhir import CERTIFICATE_ID_SYSTEM
from certs.vds import VdsCode, VdsError, load_csca, parse_seal, verify_seal
from kiosk_sim.cli import main
from vrs import Vrs, VrsError, create_app, open_vrs
from vrs.demo import Resident
from vrs.errors import Code

NIIHAMA = "382051"


def issue(center: FlaskClient, holder: Resident, kind: str, copies: int = 1) -> Any:
    return center.post(
        "/v1/certificates",
        json={
            "municipality_code": NIIHAMA,
            "my_number": holder.my_number,
            "certificate_type": kind,
            "copies": copies,
            "session_id": secrets.token_hex(32),  # one issuance per center session
        },
    )


def csca_of(center: FlaskClient) -> list[x509.Certificate]:
    resp = center.get("/.well-known/csca.pem")
    assert resp.status_code == 200 and resp.mimetype == "application/x-pem-file"
    return x509.load_pem_x509_certificates(resp.data)


def test_every_overseas_certificate_carries_a_seal_naming_its_id(
    center: FlaskClient, people: list[Resident]
) -> None:
    resp = issue(center, people[0], "overseas", copies=2)
    assert resp.status_code == 200
    certs_ = resp.json["certificates"]
    keys = KeySets()
    keys.add_jwks(center.get("/.well-known/jwks.json").json, "vrs")
    trust = csca_of(center)
    for c in certs_:
        shc = verify(from_numeric(c["printable"]["qr_value"]), keys)
        bundle = shc.payload["vc"]["credentialSubject"]["fhirBundle"]
        if c["type"] == "domestic":
            assert c["seal"] is None and c["printable"]["seal_value"] is None
            assert "identifier" not in bundle  # the domestic SHC is as it was
            continue
        check = verify_seal(c["seal"], trust)
        assert check.valid, check.message
        assert check.uvci == c["certificate_id"]
        assert bundle["identifier"] == {
            "system": CERTIFICATE_ID_SYSTEM,
            "value": c["certificate_id"],
        }
        assert parse_seal(c["printable"]["seal_value"]) == c["seal"]  # what the QR will hold
        pid = c["seal"]["data"]["msg"]["pid"]
        assert pid["i"] == c["printable"]["passport_number"]
    assert len({c["seal"]["data"]["msg"]["uvci"] for c in certs_ if c["seal"]}) == 2


@pytest.mark.parametrize("failing", ["seal", "shc"])
def test_if_either_signature_fails_nothing_is_recorded_or_returned(
    center: FlaskClient,
    loaded: Vrs,
    people: list[Resident],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise VdsError(VdsCode.BAD_ALG, "the signing device is unplugged")

    if failing == "seal":
        monkeypatch.setattr(loaded.seal_signer, "sign", broken)
    else:
        monkeypatch.setattr("vrs.issuance.sign", broken)
    resp = issue(center, people[0], "overseas")
    assert resp.status_code == 500 and "certificates" not in resp.json
    row, _ = loaded.area(NIIHAMA).find(people[0].my_number)  # type: ignore[misc]
    assert loaded.storage.certificates(NIIHAMA, row.id) == []
    assert not [e for e in loaded.storage.oplog(NIIHAMA, 100) if e["action"] == "certificate.issue"]
    monkeypatch.undo()
    assert issue(center, people[0], "overseas").status_code == 200  # and it recovers


def test_the_instance_keeps_its_pki_and_publishes_the_csca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = tmp_path / "vrs"
    vrs = open_vrs(instance)
    pki = instance / "vds-pki"
    assert stat.S_IMODE((pki / "signer.key.pem").stat().st_mode) == 0o600
    assert not [p for p in pki.iterdir() if b"PRIVATE" in p.read_bytes() and "signer" not in p.name]
    served = create_app({"TESTING": True, "VRS": vrs}).test_client().get("/.well-known/csca.pem")
    assert main(["vrs", "csca", "--instance", str(instance)]) == 0
    printed = capsys.readouterr().out
    assert printed.encode() == served.data == (pki / "csca.pem").read_bytes()
    assert load_csca(pki / "csca.pem") == vrs.seal_signer.csca
    # the next start uses the same signer
    assert open_vrs(instance).seal_signer.cert == vrs.seal_signer.cert


def test_a_damaged_signer_key_is_said_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = tmp_path / "vrs"
    assert main(["vrs", "init", "--instance", str(instance)]) == 0
    (instance / "vds-pki" / "signer.key.pem").write_text("not a key")
    capsys.readouterr()
    assert main(["vrs", "csca", "--instance", str(instance)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "barcode signer" in err and "Traceback" not in err
    with pytest.raises(VrsError) as exc:
        open_vrs(instance)
    assert exc.value.code == Code.STORAGE_ERROR and "vds-pki" in exc.value.message
