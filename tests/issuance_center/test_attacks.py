"""Attacks on the center (A01-A10 of kiosk_sim/security.py): each refused, each refusal in the
center's log with its outcome code, and none of the resident's personal data in that log.

The center's log is its access log (kiosk ID, operation, status, outcome code, the card's or
VRS's detail code, ms) and its TLS server's handshake refusals (peer address, OpenSSL's
reason). A05 and A06 (no client certificate, one from another CA) sit with the other
handshake tests in test_tls.py.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from card_reader import CardFiles, CardWire, InMemoryTransport, TextApplication, cvc, tlv
from card_reader.files import TAG_OFFSETS
from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from certs import IssuerKey
from issuance_center import create_app
from issuance_center.kiosks import Kiosk, KioskRegistry
from kiosk_sim.cli import main as kiosk_sim
from serving import CA, CrlContext, Server, mutual_tls_context
from vrs import Vrs
from vrs import create_app as vrs_app
from vrs.crypto import MasterKey
from vrs.demo import MUNICIPALITIES, Resident, profile, residents
from vrs.storage import SQLiteStorage

from ..card_reader.conftest import CardFactory
from ..vrs.conftest import ledger
from .conftest import CenterLog, FakeVrs, KioskClient, client_cert_pem, personal_data

HOLDER = Profile.demo()
# another holder: a forger's own genuine card, or the data a kiosk slips in
OTHER = dataclasses.replace(
    HOLDER, my_number="000000000019", name="試験\u3000太郎", birth_date="19700102", sex="1"
)
CARD_CODES = {"digest_mismatch", "bad_signature", "bad_certificate", "unknown_issuer"}


def read(card: SoftCard, challenge: bytes | None, pin: str = HOLDER.pin) -> CardFiles:
    app = TextApplication(InMemoryTransport(card))  # type: ignore[arg-type]
    app.select()
    app.verify_pin(pin)
    return app.read_card_files(challenge)


def new_session(client: FlaskClient) -> tuple[str, bytes]:
    resp = client.post("/v1/sessions")
    assert resp.status_code == 201, resp.json
    return resp.json["session_id"], base64.b64decode(resp.json["challenge"])


def submit(client: FlaskClient, sid: str, payload: dict[str, str]) -> TestResponse:
    return client.post(f"/v1/sessions/{sid}/card", json=payload)


def verified(client: FlaskClient, card: SoftCard, pin: str = HOLDER.pin) -> str:
    sid, challenge = new_session(client)
    assert (
        submit(client, sid, CardWire.of(read(card, challenge, pin)).model_dump()).status_code == 200
    )
    return sid


def refused(
    resp: TestResponse,
    log: CenterLog,
    status: int,
    code: str,
    detail: str | None = None,
    secrets: tuple[str, ...] = personal_data(HOLDER),
) -> str:
    """The answer is ``status``/``code`` (and ``detail``, the downstream code passed on in
    ``details``), the center's last log line says so,
    and neither holds personal data. Returns the log line."""
    assert (resp.status_code, resp.json["error"]) == (status, code), resp.json
    if detail is not None:
        assert resp.json["details"] == [{"error": detail}]
    line = log.lines()[-1]  # the test client runs the request in this thread: it is the last
    assert f"status={status}" in line and f"outcome={code}" in line, line
    assert f"detail={detail or '-'}" in line, line
    answer = str(resp.json)
    assert not [s for s in secrets if s in answer or s in line]
    return line


# --- A01: card data without a fresh card-presence signature -----------------------------


@pytest.mark.security("A01")
def test_the_answer_to_an_earlier_sessions_challenge_is_refused(
    kiosk: KioskClient, card: CardFactory, vrs: FakeVrs, center_log: CenterLog, cases: Any
) -> None:
    client = kiosk("K0001")
    _old, old_challenge = new_session(client)
    recorded = CardWire.of(read(card(), old_challenge)).model_dump()
    for _ in range(2):  # into a new session, and again into another
        sid, _challenge = new_session(client)
        resp = submit(client, sid, recorded)
        refused(resp, center_log, 422, "card_replayed", "bad_presence_signature")
        cases()
    assert vrs.calls == []
    center_log.assert_clean(*personal_data(HOLDER))


@pytest.mark.security("A01")
def test_the_same_answer_twice_is_refused(
    kiosk: KioskClient, card: CardFactory, center_log: CenterLog, cases: Any
) -> None:
    client = kiosk("K0001")
    sid, challenge = new_session(client)
    answer = CardWire.of(read(card(), challenge)).model_dump()
    assert submit(client, sid, answer).status_code == 200
    refused(submit(client, sid, answer), center_log, 422, "card_replayed")
    cases()
    # the replay ended the session: the card verified in it cannot be used for issuance
    resp = client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"})
    refused(resp, center_log, 404, "session_unknown")
    center_log.assert_clean(*personal_data(HOLDER))


@pytest.mark.security("A01")
@pytest.mark.parametrize(
    "signature,status,code,detail",
    [
        ("", 422, "card_replayed", "bad_presence_signature"),  # sent empty
        (None, 400, "bad_request", None),  # left out
        (base64.b64encode(bytes(256)).decode(), 422, "card_replayed", "bad_presence_signature"),
    ],
    ids=["empty", "absent", "zeros"],
)
def test_card_data_without_a_presence_signature_is_refused(
    kiosk: KioskClient,
    card: CardFactory,
    vrs: FakeVrs,
    center_log: CenterLog,
    cases: Any,
    signature: str | None,
    status: int,
    code: str,
    detail: str | None,
) -> None:
    client = kiosk("K0001")
    sid, _challenge = new_session(client)
    payload = CardWire.of(read(card(), None)).model_dump()  # read without signing anything
    if signature is None:
        del payload["presence_signature"]
    else:
        payload["presence_signature"] = signature
    refused(submit(client, sid, payload), center_log, status, code, detail)
    cases()
    assert vrs.calls == []
    center_log.assert_clean(*personal_data(HOLDER))


# --- A02: card files edited by one byte -----------------------------------------------------


def edit_positions(name: str, data: bytes, holder: Profile) -> list[int]:
    """Headers, ends, a byte of the My Number or name, and seeded random bytes in between.

    EF 0002's DF21 offsets and its filler after the FF20 TLV are covered by no signature,
    on real cards either (the parser walks the TLVs and ignores them): edits there are
    harmless, so they are left out. Every other byte of the five files is covered.
    """
    cover = list(range(len(data)))
    if name == "ef0002":
        outer = tlv.parse_one(data)
        head = len(outer.raw) - len(outer.value)
        offsets = tlv.children(outer.value)[TAG_OFFSETS]
        value_start = head + offsets.end - len(offsets.value)
        cover = [i for i in range(len(outer.raw)) if not value_start <= i < head + offsets.end]
    picks = {cover[0], cover[1], cover[2], cover[3], cover[-1]}
    if name == "ef0001":
        picks.add(data.index(holder.my_number.encode()) + 5)
    if name == "ef0002":
        picks.add(data.index(holder.name.encode()) + 3)
    picks.update(random.Random(name).sample(cover, 6))
    return sorted(picks)


@pytest.mark.security("A02")
@pytest.mark.measure("M03")
@pytest.mark.parametrize("name", ["ef0001", "ef0002", "ef0003", "ef0004", "ef0007"])
def test_card_files_edited_by_one_byte_are_refused(
    kiosk: KioskClient,
    card: CardFactory,
    vrs: FakeVrs,
    center_log: CenterLog,
    cases: Any,
    name: str,
) -> None:
    client = kiosk("K0001")
    seen: set[str] = set()
    for at in edit_positions(name, getattr(read(card(), None), name), HOLDER):
        sid, challenge = new_session(client)
        files = read(card(), challenge)  # genuine, and present: only the edit is wrong
        data = bytearray(getattr(files, name))
        data[at] ^= 0x01 if at % 2 else 0x80
        resp = submit(
            client, sid, CardWire.of(dataclasses.replace(files, **{name: bytes(data)})).model_dump()
        )
        assert resp.status_code == 422, (at, resp.json)
        detail = resp.json["details"][0]["error"]
        assert detail in CARD_CODES | {"malformed_data"}, (at, detail)
        # an edit of the CVC's issuer key ID names an issuer the trust store does not hold
        code = "unknown_issuer" if detail == "unknown_issuer" else "card_invalid"
        refused(resp, center_log, 422, code, detail)
        seen.add(detail)
        cases()
    # edits inside the signed values are caught by the signatures, not only by the parser
    assert seen & CARD_CODES, seen
    assert vrs.calls == []
    center_log.assert_clean(*personal_data(HOLDER))


# --- A03: a CVC from an unknown issuer key ---------------------------------------------------


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> DevCardIssuer:
    """A second card issuer, as good as the real one but not in the center's trust store."""
    return DevCardIssuer.load_or_create(tmp_path_factory.mktemp("rogue") / "card-issuer")


@pytest.fixture(scope="module")
def other_card_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.mark.security("A03")
@pytest.mark.measure("M31")
@pytest.mark.parametrize(
    "names,code,detail",
    [
        ("its own key ID", "unknown_issuer", "unknown_issuer"),
        ("the trusted key ID", "card_invalid", "bad_certificate"),
    ],
)
def test_a_card_from_an_unknown_issuer_key_is_refused(
    kiosk: KioskClient,
    issuer: DevCardIssuer,
    rogue: DevCardIssuer,
    card_key: rsa.RSAPrivateKey,
    vrs: FakeVrs,
    center_log: CenterLog,
    cases: Any,
    names: str,
    code: str,
    detail: str,
) -> None:
    client = kiosk("K0001")
    sid, challenge = new_session(client)
    # the holder's real facts on a card the rogue issuer personalized and certified
    files = read(SoftCard.personalized(HOLDER, rogue, CardState(card_key)), challenge)
    if names == "the trusted key ID":
        # the rogue CVC claims to come from the trusted key: its signature gives it away
        body = cvc.encode_body(
            issuer.certifier_key_id, rogue.subject_key_id, rogue.signer_key.public_key()
        )
        signature = rogue.root_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        files = dataclasses.replace(files, ef0004=cvc.encode(body, signature))
    refused(
        submit(client, sid, CardWire.of(files).model_dump()),
        center_log,
        422,
        code,
        detail,
    )
    cases()
    assert vrs.calls == []
    center_log.assert_clean(*personal_data(HOLDER))


# --- A04: a genuine card's data with another card's presence signature ----------------------


@pytest.mark.security("A04")
@pytest.mark.measure("M03")
@pytest.mark.parametrize(
    "taken,code,detail",
    [
        ("signature", "card_replayed", "bad_presence_signature"),
        # the forger's whole key record too: it is certified for the forger's data only
        ("key record and signature", "card_invalid", "bad_signature"),
    ],
)
def test_a_genuine_cards_data_with_another_cards_signature_is_refused(
    kiosk: KioskClient,
    card: CardFactory,
    issuer: DevCardIssuer,
    other_card_key: rsa.RSAPrivateKey,
    vrs: FakeVrs,
    center_log: CenterLog,
    cases: Any,
    taken: str,
    code: str,
    detail: str,
) -> None:
    client = kiosk("K0001")
    copied = read(card(), None)  # the victim's files, skimmed once
    forgers_card = SoftCard.personalized(OTHER, issuer, CardState(other_card_key))
    sid, challenge = new_session(client)
    present = read(forgers_card, challenge)  # genuine, present, answering this challenge
    forged = dataclasses.replace(copied, presence_signature=present.presence_signature)
    if taken == "key record and signature":
        forged = dataclasses.replace(forged, ef0007=present.ef0007)
    resp = submit(client, sid, CardWire.of(forged).model_dump())
    refused(resp, center_log, 422, code, detail, personal_data(HOLDER) + personal_data(OTHER))
    cases()
    assert vrs.calls == []
    center_log.assert_clean(*personal_data(HOLDER), *personal_data(OTHER))


# --- A07: a revoked kiosk certificate ---------------------------------------------------------


@dataclasses.dataclass
class Line:
    """The dedicated line with revocation: the kiosk CA, its CRL, the center behind both."""

    home: Path
    ca: CA
    app: Flask
    url: str

    def kiosk_cert(self, kiosk_id: str, name: str | None = None) -> tuple[Path, Path]:
        # the dev layout `kiosk-sim kiosk serve` uses, so `center revoke-kiosk ID` finds it
        return self.ca.issue(name or f"kiosk-{kiosk_id}", kiosk_id)

    def post(self, cert: tuple[Path, Path]) -> requests.Response:
        return requests.post(
            self.url + "/v1/sessions",
            cert=(str(cert[0]), str(cert[1])),
            verify=str(self.ca.cert_path),
            timeout=5,
        )


@pytest.fixture
def line(tmp_path: Path, issuer: DevCardIssuer) -> Iterator[Line]:
    home = tmp_path / "home"
    ca = CA(home / "pki" / "kiosk", "Kiosk CA (test)")
    server_cert, server_key = ca.issue("center-server", "localhost", server=True)
    crl = ca.publish_crl()
    kiosks = tmp_path / "kiosks.json"
    KioskRegistry.write(kiosks, [Kiosk("K0001", "Store 1", True), Kiosk("K0002", "Store 2", True)])
    app = create_app(
        {
            "TRUST": issuer.trust_store(),
            "KIOSKS": kiosks,
            "KIOSK_CRL": crl,
            "KIOSK_CA": ca.cert_path,
            "VRS": FakeVrs(),
        }
    )
    server = Server(
        app, "127.0.0.1", 0, CrlContext(server_cert, server_key, ca.cert_path, crl)
    ).start()
    yield Line(home, ca, app, f"https://localhost:{server.port}")
    server.stop()


@pytest.mark.security("A07")
@pytest.mark.measure("M05")
def test_a_kiosk_revoked_with_the_cli_is_refused_at_the_handshake(
    line: Line, center_log: CenterLog, cases: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    k1, k2 = line.kiosk_cert("K0001"), line.kiosk_cert("K0002")
    assert line.post(k2).status_code == 201
    assert kiosk_sim(["center", "revoke-kiosk", "K0002", "--home", str(line.home)]) == 0
    assert "revoked serial" in capsys.readouterr().out
    with pytest.raises(requests.exceptions.SSLError):
        line.post(k2)
    cases()
    center_log.handshake_refused("certificate revoked")
    assert line.post(k1).status_code == 201  # the CRL check refuses the revoked one only


@pytest.mark.security("A07")
@pytest.mark.measure("M05")
def test_a_revocation_counts_from_the_next_connection_and_a_new_certificate_gets_in(
    line: Line, center_log: CenterLog, cases: Any
) -> None:
    old = line.kiosk_cert("K0001")
    assert line.post(old).status_code == 201
    line.ca.revoke(old[0])  # while the center runs: no restart
    with pytest.raises(requests.exceptions.SSLError):
        line.post(old)
    cases()
    center_log.handshake_refused("certificate revoked")
    # the kiosk keeps its ID with a new certificate (a new serial)
    assert line.post(line.kiosk_cert("K0001", "kiosk-K0001-renewed")).status_code == 201


@pytest.mark.security("A07")
def test_the_registry_refuses_a_revoked_certificate_that_got_past_tls(
    line: Line, center_log: CenterLog, cases: Any
) -> None:
    """A center whose TLS ends before it (a proxy) still refuses the revoked serial."""
    revoked, renewed = line.kiosk_cert("K0002"), line.kiosk_cert("K0002", "kiosk-K0002-renewed")
    line.ca.revoke(revoked[0])
    client = line.app.test_client()
    client.environ_base["SSL_CLIENT_CERT"] = revoked[0].read_text()
    text = refused(client.post("/v1/sessions"), center_log, 403, "kiosk_revoked")
    assert "kiosk=K0002" in text
    cases()
    client.environ_base["SSL_CLIENT_CERT"] = renewed[0].read_text()
    assert client.post("/v1/sessions").status_code == 201


@pytest.mark.security("A07")
def test_without_a_crl_of_the_kiosk_ca_every_kiosk_is_refused(
    line: Line, tmp_path: Path, center_log: CenterLog, cases: Any
) -> None:
    good = line.kiosk_cert("K0001")
    other = CA(tmp_path / "other", "Some other CA")
    other_crl = other.publish_crl()
    crl = line.ca.crl_path
    crl.write_bytes(other_crl.read_bytes())  # swapped for another CA's
    with pytest.raises(requests.exceptions.SSLError):
        line.post(good)
    cases()
    center_log.handshake_refused("unable to get certificate CRL")
    # the registry fails closed as well, for a center whose TLS ends elsewhere
    client = line.app.test_client()
    client.environ_base["SSL_CLIENT_CERT"] = good[0].read_text()
    resp = client.post("/v1/sessions")
    assert (resp.status_code, resp.json["error"]) == (403, "kiosk_revoked")
    cases()
    with pytest.raises(ValueError):  # and a center does not start that way
        KioskRegistry(tmp_path / "kiosks.json", crl, line.ca.cert_path)
    line.ca.publish_crl()  # the kiosk CA's own again: back in
    assert line.post(good).status_code == 201


# --- A08: a disabled kiosk --------------------------------------------------------------------


@pytest.mark.security("A08")
@pytest.mark.parametrize("kid,code", [("K0009", "kiosk_disabled"), ("K9999", "kiosk_unknown")])
def test_disabled_or_unknown_kiosks_are_refused(
    kiosk: KioskClient, center_log: CenterLog, cases: Any, kid: str, code: str
) -> None:
    line = refused(kiosk(kid).post("/v1/sessions"), center_log, 403, code)
    assert f"kiosk={kid}" in line
    cases()


@pytest.mark.security("A08")
def test_a_kiosk_disabled_mid_session_is_refused_from_its_next_request(
    app: Flask,
    kiosk: KioskClient,
    card: CardFactory,
    vrs: FakeVrs,
    center_log: CenterLog,
    cases: Any,
) -> None:
    client = kiosk("K0001")
    sid = verified(client, card())
    KioskRegistry.write(app.config["KIOSKS"], [Kiosk("K0001", "Store 1", False)])
    for resp in (
        client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"}),
        client.post(
            f"/v1/sessions/{sid}/certificates",
            json={"municipality_code": "382051", "certificate_type": "domestic", "copies": 1},
        ),
        client.post("/v1/sessions"),
    ):
        refused(resp, center_log, 403, "kiosk_disabled")
        cases()
    assert vrs.calls == []
    center_log.assert_clean(*personal_data(HOLDER))


# --- A09: a municipality that does not offer the service ------------------------------------


@pytest.mark.security("A09")
@pytest.mark.measure("M04")
@pytest.mark.parametrize("code", ["382060", "999999"], ids=["not_offering", "unknown"])
@pytest.mark.parametrize("endpoint", ["eligibility", "certificates"])
def test_a_forced_municipality_without_the_service_is_refused(
    kiosk: KioskClient,
    card: CardFactory,
    vrs: FakeVrs,
    center_log: CenterLog,
    cases: Any,
    endpoint: str,
    code: str,
) -> None:
    client = kiosk("K0001")
    sid = verified(client, card())
    body: dict[str, Any] = {"municipality_code": code}
    if endpoint == "certificates":
        body |= {"certificate_type": "domestic", "copies": 1}
    resp = client.post(f"/v1/sessions/{sid}/{endpoint}", json=body)
    refused(resp, center_log, 403, "municipality_not_offered")
    cases()
    assert vrs.calls == []  # VRS never heard of it
    # and the session is left as it was: the resident can still choose their own municipality
    again = client.post(
        f"/v1/sessions/{sid}/{endpoint}", json=body | {"municipality_code": "382051"}
    )
    assert again.status_code == 200, again.get_json()
    center_log.assert_clean(*personal_data(HOLDER))


# --- A10: another municipality's resident; personal data from the kiosk ----------------------


@pytest.fixture(scope="module")
def real_vrs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CA, list[Resident]]]:
    """The real VRS over mutual TLS (LGWAN CA), with a few synthetic residents."""
    root = tmp_path_factory.mktemp("vrs")
    people = list(residents(8, seed=5))
    vrs = Vrs(
        SQLiteStorage(root / "vrs.sqlite3"),
        MasterKey.load_or_create(root / "master.key"),
        IssuerKey.generate(),
        "https://vrs.test/issuer",
    )
    for m in MUNICIPALITIES:
        vrs.add_municipality(m)
        vrs.area(m.code).import_csv(io.StringIO(ledger(people, m.code)))
    lgwan = CA(root / "lgwan", "LGWAN CA (test)")
    cert, key = lgwan.issue("vrs", "vrs", server=True)
    server = Server(
        vrs_app({"VRS": vrs}), "127.0.0.1", 0, mutual_tls_context(cert, key, lgwan.cert_path)
    ).start()
    yield f"https://127.0.0.1:{server.port}", lgwan, people
    server.stop()


@pytest.fixture
def real_center(
    real_vrs: tuple[str, CA, list[Resident]], tmp_path: Path, issuer: DevCardIssuer
) -> Callable[[str], FlaskClient]:
    url, lgwan, _people = real_vrs
    kiosks = tmp_path / "kiosks.json"
    KioskRegistry.write(kiosks, [Kiosk("K0001", "Store 1", True)])
    cert, key = lgwan.issue("center-client", "issuance-center")
    app = create_app(
        {
            "TRUST": issuer.trust_store(),
            "KIOSKS": kiosks,
            "VRS_URL": url,
            "VRS_CLIENT_CERT": cert,
            "VRS_CLIENT_KEY": key,
            "VRS_CA": lgwan.cert_path,
        }
    )

    def client(kid: str) -> FlaskClient:
        c = app.test_client()
        c.environ_base["SSL_CLIENT_CERT"] = client_cert_pem(kid)
        return c

    return client


@pytest.mark.security("A10")
@pytest.mark.parametrize("endpoint", ["eligibility", "certificates"])
def test_a_resident_asked_for_in_another_municipality_is_refused(
    real_vrs: tuple[str, CA, list[Resident]],
    real_center: Callable[[str], FlaskClient],
    issuer: DevCardIssuer,
    card_key: rsa.RSAPrivateKey,
    center_log: CenterLog,
    cases: Any,
    endpoint: str,
) -> None:
    people = real_vrs[2]
    niihama, matsuyama = people[0], people[5]
    assert (niihama.code, matsuyama.code) == ("382051", "382019")
    body = {"certificate_type": "domestic", "copies": 1} if endpoint == "certificates" else {}
    for who, asked in ((niihama, "382019"), (matsuyama, "382051"), (niihama, "382027")):
        holder = Profile.from_dict(profile(who))
        client = real_center("K0001")
        sid = verified(client, SoftCard.personalized(holder, issuer, CardState(card_key)), who.pin)
        resp = client.post(
            f"/v1/sessions/{sid}/{endpoint}", json={"municipality_code": asked, **body}
        )
        # VRS looks in the asked municipality's area only, and finds no one there
        refused(resp, center_log, 422, "vrs_refused", "no_record", personal_data(holder))
        cases()
        center_log.assert_clean(*personal_data(holder))
    # the same card in its own municipality: the refusal was the municipality, not the card
    client = real_center("K0001")
    holder = Profile.from_dict(profile(niihama))
    sid = verified(client, SoftCard.personalized(holder, issuer, CardState(card_key)), niihama.pin)
    resp = client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"})
    assert resp.status_code == 200 and resp.json["domestic"]


INJECTED = [
    ("card", {"my_number": OTHER.my_number}),
    ("eligibility", {"my_number": OTHER.my_number}),
    ("eligibility", {"name": OTHER.name, "birth_date": OTHER.birth_date}),
    ("certificates", {"my_number": OTHER.my_number}),
    ("certificates", {"address": OTHER.address, "sex": OTHER.sex}),
    ("certificates", {"holder": {"my_number": OTHER.my_number}}),
]


@pytest.mark.security("A10")
@pytest.mark.measure("M08")
@pytest.mark.parametrize(
    "endpoint,extra", INJECTED, ids=[f"{e}-{i}" for i, (e, _) in enumerate(INJECTED)]
)
def test_personal_data_from_the_kiosk_is_refused_and_never_used(
    kiosk: KioskClient,
    card: CardFactory,
    vrs: FakeVrs,
    center_log: CenterLog,
    cases: Any,
    endpoint: str,
    extra: dict[str, Any],
) -> None:
    client = kiosk("K0001")
    sid, challenge = new_session(client)
    answer = CardWire.of(read(card(), challenge)).model_dump()
    secrets = personal_data(HOLDER) + personal_data(OTHER)
    if endpoint == "card":
        resp = submit(client, sid, {**answer, **extra})
    else:
        assert submit(client, sid, answer).status_code == 200
        body = {"municipality_code": "382051", "certificate_type": "domestic", "copies": 1}
        if endpoint == "eligibility":
            body = {"municipality_code": "382051"}
        resp = client.post(f"/v1/sessions/{sid}/{endpoint}", json={**body, **extra})
    refused(resp, center_log, 400, "bad_request", None, secrets)
    cases()
    # the session goes on with the chip's data only
    if endpoint == "card":
        assert submit(client, sid, answer).status_code == 200
    ok = client.post(f"/v1/sessions/{sid}/eligibility", json={"municipality_code": "382051"})
    assert ok.status_code == 200
    assert vrs.calls and all(args[1] == HOLDER.my_number for _op, args in vrs.calls)
    center_log.assert_clean(*secrets)
