"""M12: the vaccination-site side reaches coupon numbers and doses, never a My Number."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from serving import CA, Server, mutual_tls_context
from vrs import Vrs, create_app, open_vrs
from vrs.areas import Area
from vrs.crypto import AreaKeys, DoseKeys, MasterKey, _seal
from vrs.demo import Resident
from vrs.site import CouponDesk, create_site_app, site_api
from vrs.staff import StaffService

BACKENDS = ("sqlite", "postgresql")  # conftest.pytest_generate_tests

NIIHAMA = "382051"
pytestmark = [pytest.mark.measure("M12"), pytest.mark.security("A17")]


@dataclass
class Sides:
    lgwan_url: str
    site_url: str
    lgwan: CA
    tablets: CA
    tmp: Path

    def tablet(self, url: str, path: str, **kw: Any) -> requests.Response:
        cert = tuple(map(str, self.tablets.issue("tablet", "tablet-niihama-07")))
        return requests.request(
            kw.pop("method", "POST"),
            url + path,
            cert=cert,
            verify=str(kw.pop("ca", self.tablets.cert_path)),
            timeout=5,
            **kw,
        )

    def center(self, path: str, **kw: Any) -> requests.Response:
        cert = tuple(map(str, self.lgwan.issue("center", "issuance-center")))
        return requests.post(
            self.lgwan_url + path, cert=cert, verify=str(self.lgwan.cert_path), timeout=5, **kw
        )


@pytest.fixture
def sides(loaded: Vrs, tmp_path: Path) -> Iterator[Sides]:
    lgwan = CA(tmp_path / "lgwan", "LGWAN CA (test)")
    tablets = CA(tmp_path / "site", "Vaccination-site CA (test)")
    app = create_app({"VRS": loaded})
    site_app = create_site_app({"DESK": CouponDesk.from_vrs(loaded)})
    servers = [
        Server(app, "127.0.0.1", 0, mutual_tls_context(*lgwan_server(lgwan), lgwan.cert_path)),
        Server(
            site_app,
            "127.0.0.1",
            0,
            mutual_tls_context(*tablets.issue("site", "localhost", server=True), tablets.cert_path),
        ),
    ]
    urls = [f"https://localhost:{s.start().port}" for s in servers]
    yield Sides(urls[0], urls[1], lgwan, tablets, tmp_path)
    stops = [threading.Thread(target=server.stop) for server in servers]  # both at once
    for t in stops:
        t.start()
    for t in stops:
        t.join(5)


def lgwan_server(lgwan: CA) -> tuple[Path, Path]:
    return lgwan.issue("vrs", "localhost", server=True)


def test_each_listener_takes_only_its_own_side(sides: Sides, cases: Callable[..., None]) -> None:
    # a tablet is refused at the LGWAN listener's handshake, whatever it asks
    for path in ("/v1/municipalities", "/staff/login", "/openapi.json"):
        cases()
        with pytest.raises(requests.exceptions.SSLError):
            sides.tablet(sides.lgwan_url, path, method="GET", ca=sides.lgwan.cert_path)
    # the center's (or any LGWAN) certificate, or none, is not what the site wants
    center = tuple(map(str, sides.lgwan.issue("center", "issuance-center")))
    for cert in (center, None):
        cases()
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(
                sides.site_url + "/site/v1/coupons/doses",
                json={"municipality_code": NIIHAMA, "coupon_number": "0000000000"},
                cert=cert,
                verify=str(sides.tablets.cert_path),
                timeout=5,
            )
    # each gets in where it belongs
    assert sides.tablet(sides.site_url, "/openapi.json", method="GET").status_code == 200
    assert sides.center("/v1/eligibility", json={}).status_code == 400


def test_a_tablet_records_a_dose_by_coupon_number(
    sides: Sides,
    loaded: Vrs,
    people: list[Resident],
    caplog: pytest.LogCaptureFixture,
    cases: Callable[..., None],
) -> None:
    resident = people[1]  # Niihama, 2 doses
    coupon = {"municipality_code": NIIHAMA, "coupon_number": resident.coupon}
    dose = {**coupon, "dose_date": "2022-03-01", "product": "moderna", "lot_number": "3004217"}
    texts = []
    with caplog.at_level(logging.DEBUG):
        before = sides.tablet(sides.site_url, "/site/v1/coupons/doses", json=coupon)
        recorded = sides.tablet(sides.site_url, "/site/v1/doses", json=dose)
        again = sides.tablet(sides.site_url, "/site/v1/doses", json=dose)  # a retry
        after = sides.tablet(sides.site_url, "/site/v1/coupons/doses", json=coupon)
    cases(4)
    assert [d["dose_number"] for d in before.json()["doses"]] == [1, 2]
    assert before.json()["next_dose_number"] == 3
    assert recorded.status_code == 201 and recorded.json()["dose"]["dose_number"] == 3
    assert again.status_code == 200 and again.json()["recorded"] is False
    assert [d["lot_number"] for d in after.json()["doses"]][-1] == "3004217"
    assert len(after.json()["doses"]) == 3
    texts += [r.text for r in (before, recorded, again, after)]
    # the record system now holds the third dose: the center's eligibility says so
    ask = {"municipality_code": NIIHAMA, "my_number": resident.my_number}
    assert sides.center("/v1/eligibility", json=ask).json()["doses"] == 3
    # what the tablet saw and what the site logged hold no My Number and no personal data
    site_log = [e for e in loaded.storage.oplog(NIIHAMA, 1000) if e["actor"].startswith("tablet:")]
    assert [e["action"] for e in reversed(site_log)] == [
        "site.doses",
        *["site.record"] * 2,
        "site.doses",
    ]
    assert site_log[0]["actor"] == "tablet:tablet-niihama-07"
    # every log line of the run (the site's, its access log, the LGWAN side's)
    assert any(
        r.name == "vrs.site.access" and "POST /site/v1/doses status=201" in r.getMessage()
        for r in caplog.records
    )
    for text in [*texts, str(site_log), caplog.text]:
        for secret in resident.secrets():
            assert secret not in text


def test_the_site_serves_coupon_routes_only(
    sides: Sides, people: list[Resident], cases: Callable[..., None]
) -> None:
    app = create_site_app({"DESK": object()})
    routes = {
        (r.rule, m)
        for r in app.url_map.iter_rules()
        for m in r.methods or ()
        if m not in ("HEAD", "OPTIONS")
    }
    assert routes == {
        ("/site/v1/coupons/doses", "POST"),
        ("/site/v1/doses", "POST"),
        ("/openapi.json", "GET"),
    }
    # no field or parameter of the description is a My Number or another personal field
    names = field_names(site_api().api_doc)
    assert {"coupon_number", "lot_number"} <= names
    for personal in ("my_number", "name", "birth", "address", "passport", "sex"):
        assert not [n for n in names if personal in n and n != "lot_number"], personal
    # a My Number offered is refused, and not echoed back
    resident = people[1]
    for path, body in [
        (
            "/site/v1/coupons/doses",
            {"municipality_code": NIIHAMA, "coupon_number": resident.coupon},
        ),
        (
            "/site/v1/doses",
            {
                "municipality_code": NIIHAMA,
                "coupon_number": resident.coupon,
                "dose_date": "2022-03-01",
                "product": "pfizer",
                "lot_number": "FA1234",
            },
        ),
    ]:
        for sneaked in (
            {**body, "my_number": resident.my_number},
            {**body, "coupon_number": resident.my_number},
            {**body, resident.my_number: True},
        ):
            cases()
            resp = sides.tablet(sides.site_url, path, json=sneaked)
            assert (resp.status_code, resp.json()["error"]) == (400, "bad_request")
            assert resident.my_number not in resp.text


def test_lgwan_paths_do_not_exist_on_the_site(sides: Sides, cases: Callable[..., None]) -> None:
    for path in (
        "/v1/municipalities",
        "/v1/eligibility",
        "/v1/certificates",
        "/staff/login",
        "/staff/persons/lookup",
        "/staff/export.csv",
        "/staff/transfers",
    ):
        for method in ("GET", "POST"):
            cases()
            resp = sides.tablet(sides.site_url, path, method=method, json={})
            assert (resp.status_code, resp.json()["error"]) == (404, "not_found"), path


def test_the_desk_holds_no_way_to_a_my_number(loaded: Vrs, people: list[Resident]) -> None:
    desk = CouponDesk.from_vrs(loaded)
    public = {n for n, _ in inspect.getmembers(desk, callable) if not n.startswith("_")}
    assert public == {"doses", "record_dose", "from_vrs"}
    for name in public:
        assert "my_number" not in inspect.signature(getattr(desk, name)).parameters
    # nothing it holds is the record system, an area, the full area keys or the master key
    seen: list[object] = []

    def walk(value: object, depth: int = 0) -> None:
        seen.append(value)
        if depth < 3:
            inner = (
                value.values()
                if isinstance(value, dict)
                else getattr(value, "__dict__", {}).values()
            )
            for v in list(inner):
                walk(v, depth + 1)

    walk(desk)
    banned = (Vrs, Area, AreaKeys, MasterKey, StaffService)
    assert not [type(v).__name__ for v in seen if isinstance(v, banned)]
    assert not any(getattr(v, "__self__", None) is loaded for v in seen)
    # the dose keys it holds cannot open a person's sealed fields (nor even by their key: below)
    row, _ = loaded.area(NIIHAMA).find(people[0].my_number)  # type: ignore[misc]
    with pytest.raises(InvalidTag):
        desk._keys[NIIHAMA].open_doses(row.id, row.sealed)


def held(value: object, depth: int = 0) -> Iterator[object]:
    """Everything reachable from ``value`` through dicts and attributes."""
    yield value
    if depth < 4:
        inner = (
            value.values() if isinstance(value, dict) else getattr(value, "__dict__", {}).values()
        )
        for v in list(inner):
            yield from held(v, depth + 1)


def test_no_key_the_desk_holds_opens_a_persons_blob(loaded: Vrs, people: list[Resident]) -> None:
    """Not the desk's code, nor the AAD: the keys themselves cannot open a person's fields."""
    desk = CouponDesk.from_vrs(loaded)
    area = loaded.area(NIIHAMA)
    row, person = area.find(people[1].my_number)  # type: ignore[misc]  # Niihama, 2 doses
    assert person["my_number"] == people[1].my_number  # the blob holds the My Number
    aad = f"{NIIHAMA}:persons:{row.id}".encode()  # the person blob's own AAD, not the doses'
    nonce, sealed = row.sealed[:12], row.sealed[12:]
    assert area.keys.open("persons", row.id, row.sealed) == person  # the LGWAN side's key does
    # every key object and every key-sized byte string the desk holds, in every area
    everything = list(held(desk))
    ciphers = [v for v in everything if isinstance(v, AESGCM)]
    raw = [AESGCM(v) for v in everything if isinstance(v, bytes) and len(v) in (16, 24, 32)]
    assert len(ciphers) == len(loaded.municipalities()) and raw  # dose keys, coupon index keys
    for cipher in ciphers + raw:
        with pytest.raises(InvalidTag):
            cipher.decrypt(nonce, sealed, aad)
    for keys in [v for v in everything if isinstance(v, DoseKeys)]:
        with pytest.raises(InvalidTag):
            keys.open_doses(row.id, row.sealed)
    # while the dose list in the database opens with the desk's key, and not with the data key
    blob = loaded.storage.doses(NIIHAMA, row.id)
    assert blob is not None
    assert [d["dose_number"] for d in desk._keys[NIIHAMA].open_doses(row.id, blob)] == [1, 2]
    with pytest.raises(InvalidTag):
        area.keys.open_legacy_doses(row.id, blob)
    with pytest.raises(ValueError):
        area.keys.open("doses", row.id, blob)  # the data key is not for dose lists


def test_a_database_made_before_dose_keys_is_resealed_once(
    loaded: Vrs, people: list[Resident], tmp_path: Path
) -> None:
    storage = loaded.storage
    master = MasterKey.load_or_create(tmp_path / "master.key")
    # what the code before dose keys left: dose lists under each area's data key, no format row
    legacy: dict[str, bytes] = {}
    area_of: dict[str, str] = {}  # each dose list's municipality
    with storage.transaction():
        for m in storage.municipalities():
            data_key = AESGCM(master.unwrap(m.code, m.wrapped_key))
            keys = loaded.area(m.code).keys.dose_keys()
            for pid, blob in storage.dose_lists(m.code):
                legacy[pid] = _seal(
                    data_key, m.code, "doses", pid, {"doses": keys.open_doses(pid, blob)}
                )
                area_of[pid] = m.code
                storage.put_doses(m.code, pid, legacy[pid])
        storage.sql("DELETE FROM meta")  # type: ignore[attr-defined]
    persons = {r.id: r.sealed for r in storage.persons(NIIHAMA)}
    assert storage.format_version() is None and len(legacy) >= 5
    # one damaged list: the migration fails as a whole and the database is left as it was
    pid, blob = next(iter(legacy.items()))
    with storage.transaction():
        storage.put_doses(area_of[pid], pid, blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(InvalidTag):
        open_vrs(tmp_path)
    assert storage.format_version() is None
    assert all(storage.doses(area_of[p], p) == b for p, b in legacy.items() if p != pid)
    with storage.transaction():
        storage.put_doses(area_of[pid], pid, blob)
    # the developer's instance folder, opened again: re-sealed under the dose keys, once
    again = open_vrs(tmp_path)
    assert storage.format_version() == 2
    resealed = {p: storage.doses(area_of[p], p) for p in legacy}
    assert all(resealed[p] != legacy[p] for p in legacy)
    assert {r.id: r.sealed for r in storage.persons(NIIHAMA)} == persons  # persons untouched
    desk = CouponDesk.from_vrs(again)
    on_site = 0
    for r in people:
        found = again.area(r.code).find(r.my_number)
        if found is None or not r.doses:
            continue
        assert len(again.area(r.code).doses(found[0].id)) == r.doses
        if r.code == NIIHAMA and not found[0].moved_out and not found[0].deceased:
            assert len(desk.doses("tablet-1", NIIHAMA, r.coupon)) == r.doses
            on_site += 1
    assert on_site >= 2
    open_vrs(tmp_path)
    assert {p: storage.doses(area_of[p], p) for p in legacy} == resealed  # not a second time


@pytest.mark.parametrize(
    "change,status,code",
    [
        ({"coupon_number": "0000000001"}, 404, "no_record"),
        ({"municipality_code": "131016"}, 404, "no_such_municipality"),
        ({"dose_date": "2999-01-01"}, 400, "bad_request"),
        ({"dose_date": "20220301"}, 400, "bad_request"),
        ({"product": "snake-oil"}, 400, "bad_request"),
        ({"lot_number": "FA 12"}, 400, "bad_request"),
    ],
)
def test_bad_dose_reports(
    loaded: Vrs, people: list[Resident], change: dict[str, str], status: int, code: str
) -> None:
    from ..issuance_center.conftest import client_cert_pem

    client = create_site_app({"DESK": CouponDesk.from_vrs(loaded)}).test_client()
    client.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("tablet-1")
    body = {
        "municipality_code": NIIHAMA,
        "coupon_number": people[1].coupon,
        "dose_date": "2022-03-01",
        "product": "pfizer",
        "lot_number": "FA1234",
        **change,
    }
    resp = client.post("/site/v1/doses", json=body)
    assert (resp.status_code, resp.json["error"]) == (status, code)


def test_a_moved_out_residents_coupon_is_no_longer_valid(
    loaded: Vrs, people: list[Resident]
) -> None:
    from ..issuance_center.conftest import client_cert_pem

    client = create_site_app({"DESK": CouponDesk.from_vrs(loaded)}).test_client()
    client.environ_base["SSL_CLIENT_CERT"] = client_cert_pem("tablet-1")
    resp = client.post(
        "/site/v1/coupons/doses",
        json={"municipality_code": NIIHAMA, "coupon_number": people[3].coupon},
    )
    assert (resp.status_code, resp.json["error"]) == (422, "moved_out")
    # and without a tablet certificate nothing is answered
    anonymous = create_site_app({"DESK": CouponDesk.from_vrs(loaded)}).test_client()
    resp = anonymous.post("/site/v1/coupons/doses", json={})
    assert (resp.status_code, resp.json["error"]) == (401, "unauthenticated")


def field_names(node: object) -> set[str]:
    """Every property and parameter name in an OpenAPI description."""
    names: set[str] = set()
    if isinstance(node, dict):
        names |= set(node.get("properties", {}))
        if node.get("in") in ("path", "query", "header") and isinstance(node.get("name"), str):
            names.add(node["name"])
        for v in node.values():
            names |= field_names(v)
    elif isinstance(node, list):
        for v in node:
            names |= field_names(v)
    return names
