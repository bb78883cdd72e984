"""VRS's internet-facing side: vaccination-site tablets, by coupon number only (M12).

At a vaccination site a tablet reads the coupon (接種券) and reports the dose
given; it reaches VRS over the internet, not over LGWAN, so it must never
reach the My Numbers. Here that side is a Flask app of its own, on its own
listener with its own CA for tablet certificates (``kiosk-sim vrs serve
--site-port``), and all it is given is a :class:`CouponDesk`:

- coupon numbers are found by their own blind index (its key is not the
  My Number index key, which the desk never holds);
- the desk seals and opens dose lists only, with each area's dose key
  (``DoseKeys``): a key derived from the area's data key, not the data key
  that seals a person's fields, so those blobs cannot be opened with anything
  the desk holds, whatever its code did;
- no method of it takes or returns a My Number, a name, a birth date or an
  address, and the app's routes accept none (unknown fields are refused).

The desk and the LGWAN app share one process and one database here; the
separation is in what each side's code is handed, in the listeners and in
the CAs, and in the keys: the desk's keys cannot open a person's blob.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

from flask import Response, current_app, g, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models import OPENAPI3_REF_PREFIX as REF
from flask_openapi3.openapi import OpenAPI

from certs import VACCINES
from serving import client_certificate
from serving.access import log_requests
from serving.api import api_app, refusals, reply

from . import clock
from .areas import Vrs
from .crypto import DoseKeys
from .errors import Code, VrsError
from .models import CouponAsk, CouponDoses, DoseRecorded, DoseReport, Error
from .storage import Storage

# every route: a tablet certificate (401), a request as its model says (400, naming no
# value), a municipality and a coupon that exist and are still valid
site = APIBlueprint(
    "site",
    __name__,
    url_prefix="/site/v1",
    abp_responses=refusals(Error, 401, 404, 413, 422, 503),
)

MAX_DOSES = 20
KIND = {  # the ledger's vaccine_type of each product
    "pfizer": "mRNA",
    "moderna": "mRNA",
    "astrazeneca": "viral vector",
    "janssen": "viral vector",
    "novavax": "protein subunit",
    "unspecified": "",
}
JST = timedelta(hours=9)


class CouponDesk:
    """All the vaccination-site app can reach: dose lists by coupon number, per municipality."""

    def __init__(self, storage: Storage, keys: dict[str, DoseKeys]) -> None:
        self._storage = storage
        self._keys = keys

    @classmethod
    def from_vrs(cls, vrs: Vrs) -> CouponDesk:
        # the storage and each area's dose keys; not ``vrs`` itself, nor even a bound
        # method of it (``vrs.log.__self__`` would lead back to every area's full keys)
        keys = {m.code: vrs.area(m.code).keys.dose_keys() for m in vrs.municipalities()}
        return cls(vrs.storage, keys)

    def doses(self, tablet: str, municipality: str, coupon: str) -> list[dict[str, Any]]:
        """The doses recorded for a coupon: number, date, product and lot, nothing else."""
        with self._logged(tablet, municipality, "site.doses"):
            pid, keys = self._holder(municipality, coupon)
            blob = self._storage.doses(municipality, pid)
            self._log(tablet, municipality, "site.doses", pid)
        return [_public(d) for d in (keys.open_doses(pid, blob) if blob else [])]

    def record_dose(
        self, tablet: str, municipality: str, coupon: str, when: date, product: str, lot: str
    ) -> tuple[dict[str, Any], bool]:
        """Adds the dose as the coupon's next one; (the dose, whether it is new).

        A tablet that sends the same dose again (a retry after a lost answer)
        gets the dose already recorded, not a second one.
        """
        with self._logged(tablet, municipality, "site.record"):
            pid, keys = self._holder(municipality, coupon)
            blob = self._storage.doses(municipality, pid)
            doses = keys.open_doses(pid, blob) if blob else []
            last = max(doses, key=lambda d: d["dose_number"], default=None)
            if last and (last["dose_date"], last["product"], last["lot_number"]) == (
                when.isoformat(),
                product,
                lot,
            ):
                self._log(tablet, municipality, "site.record", pid, "already_recorded")
                return _public(last), False
            number = last["dose_number"] + 1 if last else 1
            if number > MAX_DOSES:
                raise VrsError(Code.CONFLICT, f"this coupon has {MAX_DOSES} doses already")
            dose = {
                "dose_number": number,
                "dose_date": when.isoformat(),
                "manufacturer": VACCINES[product].manufacturer_ja,
                "vaccine_type": KIND.get(product, ""),
                "product": product,
                "lot_number": lot,
            }
            self._storage.put_doses(municipality, pid, keys.seal_doses(pid, [*doses, dose]))
            self._log(tablet, municipality, "site.record", pid)
        return _public(dose), True

    @contextlib.contextmanager
    def _logged(self, tablet: str, municipality: str, action: str) -> Iterator[None]:
        """One transaction; a refusal is logged after its rollback (with no row ID)."""
        try:
            with self._storage.transaction():
                yield
        except VrsError as exc:
            if exc.code not in (Code.BUSY, Code.NO_SUCH_MUNICIPALITY):
                self._log(tablet, municipality, action, "-", exc.code.value)
            raise

    def _log(self, tablet: str, area: str, action: str, target: str, outcome: str = "ok") -> None:
        """An operation-log entry, as ``Vrs.log`` writes them: no personal data (M15).

        Inside the desk's transaction, part of it; outside (a refusal), group-committed.
        """
        at = clock.now().isoformat(timespec="seconds")
        self._storage.append_log(at, tablet, area, action, target, outcome)

    def _holder(self, municipality: str, coupon: str) -> tuple[str, DoseKeys]:
        keys = self._keys.get(municipality)
        if keys is None:
            raise VrsError(Code.NO_SUCH_MUNICIPALITY, "no such municipality")
        holder = self._storage.coupon_holder(municipality, keys.coupon_index(coupon))
        if holder is None:
            raise VrsError(Code.NO_RECORD, "no such coupon number in this municipality")
        _pid, moved_out, deceased = holder
        if deceased or moved_out:
            code = Code.DECEASED if deceased else Code.MOVED_OUT
            raise VrsError(code, "this coupon is no longer valid; ask the municipality")
        return holder[0], keys


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("dose_number", "dose_date", "product", "lot_number")}


# --- the app


def desk() -> CouponDesk:
    # Flask types its extensions as Any: site_api put the CouponDesk there
    return cast(CouponDesk, current_app.extensions["vrs_site_desk"])


def tablet() -> str:
    """The tablet's ID: its certificate's CN (the site CA let it in at the handshake)."""
    try:
        peer = client_certificate(request.environ)
    except ValueError:
        peer = None
    cn = peer.cn if peer else None
    if not cn:
        raise VrsError(Code.UNAUTHENTICATED, "a vaccination-site tablet certificate is required")
    return f"tablet:{str(cn)[:64]}"


@site.before_request
def only_tablets() -> None:
    g.tablet = tablet()


@site.post(
    "/coupons/doses",
    summary="The doses recorded for a coupon, and the number the next one gets",
    responses={200: CouponDoses},
)
def coupon_doses(body: CouponAsk) -> Response:
    code, coupon = body.municipality_code, body.coupon_number
    doses = desk().doses(g.tablet, code, coupon)
    return reply(
        CouponDoses.model_validate(
            {
                "municipality_code": code,
                "coupon_number": coupon,
                "doses": doses,
                "next_dose_number": len(doses) + 1,
            }
        )
    )


@site.post(
    "/doses",
    summary="Report a dose given at the site: recorded as the coupon's next dose",
    responses={
        201: DoseRecorded,
        200: {
            "description": "sent before: the dose recorded then",
            "content": {"application/json": {"schema": {"$ref": f"{REF}/DoseRecorded"}}},
        },
        **refusals(Error, 409),
    },
)
def record_dose(body: DoseReport) -> Response:
    try:
        when = date.fromisoformat(body.dose_date)
    except ValueError:
        raise VrsError(Code.BAD_REQUEST, "dose_date must be YYYY-MM-DD") from None
    if when > (clock.now() + JST).date():  # today as the site sees it
        raise VrsError(Code.BAD_REQUEST, "dose_date must be YYYY-MM-DD, not after today")
    code, coupon = body.municipality_code, body.coupon_number
    dose, new = desk().record_dose(g.tablet, code, coupon, when, body.product, body.lot_number)
    recorded = DoseRecorded.model_validate(
        {"municipality_code": code, "coupon_number": coupon, "dose": dose, "recorded": new}
    )
    return reply(recorded, 201 if new else 200)


def site_api(config: dict[str, Any] | None = None) -> OpenAPI:
    """The vaccination-site app and its description, not yet given a desk."""
    app = api_app(
        "vrs.site",
        title="VRS (vaccination-site side)",
        description="Internet-facing; mutual TLS with a tablet certificate of the site CA."
        " Coupon numbers (接種券番号) only: no My Number is accepted or returned (M12).",
        error=Error,
        bad_request=lambda words: VrsError(Code.BAD_REQUEST, words),
        log=logging.getLogger("vrs"),
    )
    app.config.update(MAX_CONTENT_LENGTH=16 * 1024)
    app.config.update(config or {})
    app.register_api(site)
    log_requests(app, logging.getLogger("vrs.site.access"))
    return app


def create_site_app(config: dict[str, Any] | None = None) -> OpenAPI:
    """The vaccination-site app: ``DESK`` (a CouponDesk), or ``INSTANCE`` to open one."""
    app = site_api(config)
    the_desk = app.config.get("DESK")
    if the_desk is None:
        from . import open_vrs

        the_desk = CouponDesk.from_vrs(open_vrs(Path(app.config["INSTANCE"])))
    app.extensions["vrs_site_desk"] = the_desk
    return app
