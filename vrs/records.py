"""The record system: municipality areas, persons and doses, CSV in and out, issuance.

Every method works inside one municipality's area (M10): the area is chosen
by the caller's identity before anything is read, and every query names it.
"""

from __future__ import annotations

import csv
import io
import operator
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from card_reader.mynumber import is_valid as my_number_valid
from certs import VACCINES, Dose, IssuerKey, Person, build_bundle, sign, to_numeric
from certs.fhir import PERFORMER
from certs.vds import SealSigner, seal_data, seal_json

from . import clock
from .crypto import AreaKeys, MasterKey, new_data_key
from .errors import Code, VrsError
from .storage import MunicipalityRow, PersonRow, Staging, Storage

PERSON_FIELDS = (
    "my_number",
    "atena_number",
    "ticket_number",
    "name",
    "birth_date",
    "sex",
    "romanized_name",
    "nationality",
    "passport_number",
    "former_name",
)
DOSE_FIELDS = ("dose_number", "dose_date", "manufacturer", "vaccine_type", "product", "lot_number")
IMPORT_COLUMNS = (*PERSON_FIELDS, "moved_out", "deceased", *DOSE_FIELDS)
EXPORT_COLUMNS = ("atena_number", "ticket_number", "name", "birth_date", "sex", *DOSE_FIELDS)
BATCH = 5000
# how blobs are sealed: 1 (no meta row) dose lists under the area's data key, 2 under its dose key
FORMAT = 2


def local_government_check_digit(code5: str) -> int:
    total = sum(int(c) * w for c, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def valid_municipality_code(code: str) -> bool:
    return (
        isinstance(code, str)
        and len(code) == 6
        and code.isascii()
        and code.isdigit()
        and local_government_check_digit(code[:5]) == int(code[5])
    )


@dataclass(frozen=True)
class Municipality:
    code: str
    name_ja: str
    name_en: str
    prefecture: str
    offers_convenience_store: bool
    mayor_ja: str
    mayor_en: str

    def public(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_ja": self.name_ja,
            "name_en": self.name_en,
            "prefecture": self.prefecture,
            "offers_convenience_store_issuance": self.offers_convenience_store,
        }


class Vrs:
    def __init__(
        self,
        storage: Storage,
        master: MasterKey,
        issuer: IssuerKey,
        iss: str,
        seal_signer: SealSigner | None = None,
    ) -> None:
        self.storage = storage
        self.master = master
        self.issuer = issuer
        self.iss = iss.rstrip("/")
        self._seal_signer = seal_signer
        self._areas: dict[str, tuple[Municipality, AreaKeys]] = {}
        self._load_areas()
        self._upgrade()

    @property
    def seal_signer(self) -> SealSigner:
        """The VDS-NC barcode signer; without one given, a throwaway one in memory."""
        if self._seal_signer is None:
            from certs import vds_pki

            key, csca = vds_pki.make_csca()
            self._seal_signer = vds_pki.make_signer(key, csca)
        return self._seal_signer

    def _load_areas(self) -> None:
        for row in self.storage.municipalities():
            m = Municipality(
                row.code,
                row.name_ja,
                row.name_en,
                row.prefecture,
                row.offers_convenience_store,
                row.mayor_ja,
                row.mayor_en,
            )
            self._areas[row.code] = (m, self.master.area(row.code, row.wrapped_key))

    def _upgrade(self) -> None:
        """A database made before dose keys: every dose list re-sealed once, all or none.

        A fresh database has no dose list yet and is only stamped. Two processes
        opening the same old database: the second finds it done inside the lock.
        """
        if (self.storage.format_version() or 1) >= FORMAT:
            return
        with self.storage.transaction():
            if (self.storage.format_version() or 1) >= FORMAT:  # another process did it
                return
            for code, (_m, keys) in self._areas.items():
                doses = keys.dose_keys()
                for pid, blob in self.storage.dose_lists(code):
                    plain = keys.open_legacy_doses(pid, blob)
                    self.storage.put_doses(pid, doses.seal_doses(pid, plain))
            self.storage.set_format_version(FORMAT)

    # --- municipalities
    def add_municipality(self, m: Municipality) -> None:
        if not valid_municipality_code(m.code):
            raise VrsError(Code.BAD_REQUEST, "not a valid local government code")
        with self.storage.transaction():
            self.storage.add_municipality(
                MunicipalityRow(
                    m.code,
                    m.name_ja,
                    m.name_en,
                    m.prefecture,
                    m.offers_convenience_store,
                    m.mayor_ja,
                    m.mayor_en,
                    self.master.wrap(m.code, new_data_key()),
                )
            )
        self._load_areas()

    def municipalities(self) -> list[Municipality]:
        return [m for m, _ in self._areas.values()]

    def area(self, code: str) -> Area:
        if code not in self._areas:
            raise VrsError(Code.NO_SUCH_MUNICIPALITY, "no such municipality")
        m, keys = self._areas[code]
        return Area(self, m, keys)

    def log(
        self, actor: str, area: str, action: str, target: str = "-", outcome: str = "ok"
    ) -> None:
        """An operation-log entry: who, when, what, which area — never personal data (M15).

        Inside a transaction it is part of it; otherwise it is on disk when
        this returns, committed together with other threads' entries.
        """
        at = clock.now().isoformat(timespec="seconds")
        self.storage.append_log(at, actor, area, action, target, outcome)


class Area:
    """One municipality's area: its keys, its rows, nothing else."""

    def __init__(self, vrs: Vrs, municipality: Municipality, keys: AreaKeys) -> None:
        self.vrs = vrs
        self.municipality = municipality
        self.code = municipality.code
        self.keys = keys
        self.storage = vrs.storage

    # --- reading
    def find(self, my_number: str) -> tuple[PersonRow, dict[str, Any]] | None:
        row = self.storage.find_person(self.code, self.keys.blind_index(my_number))
        if row is None:
            return None
        return row, self.keys.open("persons", row.id, row.sealed)

    def get(self, person_id: str) -> tuple[PersonRow, dict[str, Any]] | None:
        row = self.storage.get_person(self.code, person_id)
        if row is None:
            return None
        return row, self.keys.open("persons", row.id, row.sealed)

    def doses(self, person_id: str) -> list[dict[str, Any]]:
        blob = self.storage.doses(person_id)
        return self.keys.dose_keys().open_doses(person_id, blob) if blob else []

    # --- writing
    def erase(self, person_id: str) -> bool:
        """Only this area's rows can be erased through this area (M16)."""
        with self.storage.transaction():
            return self.storage.erase_person(self.code, person_id)

    def import_csv(self, text: TextIO, actor: str | None = None) -> int:
        """All rows or none: errors are reported by row number and nothing is kept.

        Rows are checked and sealed as they come, one person in memory at a
        time (a ledger export lists a person's rows together), into a staging
        file, holding no lock: issuance and every other write go on meanwhile.
        The first bad row stops the staging; the pass goes on to report every
        bad row. Only a clean file is merged, in one short transaction with
        its log entry (``actor``'s ``records.import``, when given): a person
        already registered, a full disk or a crash there keeps nothing, and
        the staging file is removed in every case.
        """
        errors: list[dict[str, object]] = []
        seen: set[bytes] = set()
        count = 0
        seal_doses = self.keys.dose_keys().seal_doses
        with self.storage.staging() as stage:
            batch: list[tuple[PersonRow, bytes, bytes | None]] = []
            dose_rows: list[tuple[str, bytes]] = []
            for line, record, flags, doses, problem in self._groups(text):
                if problem is None:
                    digest = self.keys.blind_index(record["my_number"])
                    if digest in seen:
                        problem = "this person's rows are not together"
                    seen.add(digest)
                if problem is not None:
                    errors.append({"row": line, "reason": problem})
                if errors:
                    continue
                pid = new_row_id()
                # the coupon's own blind index: what a vaccination site looks up (M12)
                coupon = record["ticket_number"]
                coupon_index = self.keys.coupon_index(coupon) if coupon else None
                batch.append(
                    (
                        PersonRow(
                            pid,
                            self.code,
                            self.keys.seal("persons", pid, record),
                            flags[0],
                            flags[1],
                        ),
                        digest,
                        coupon_index,
                    )
                )
                if doses:  # all of a person's doses in one sealed list: one AES-GCM per person
                    dose_rows.append((pid, seal_doses(pid, doses)))
                count += 1
                if len(batch) >= BATCH:
                    self._stage(stage, batch, dose_rows)
            if errors:
                raise VrsError(
                    Code.IMPORT_REJECTED,
                    f"{len(errors)} row(s) rejected; nothing was imported",
                    errors[:100],
                )
            self._stage(stage, batch, dose_rows)
            with self.storage.transaction():
                self._merge(stage)
                if actor is not None:  # the rows and their log entry, or neither
                    self.vrs.log(actor, self.code, "records.import", f"{count} persons")
        return count

    @staticmethod
    def _stage(
        stage: Staging,
        persons: list[tuple[PersonRow, bytes, bytes | None]],
        doses: list[tuple[str, bytes]],
    ) -> None:
        stage.add_persons(persons)
        stage.add_doses(doses)
        persons.clear()
        doses.clear()

    def _merge(self, stage: Staging) -> None:
        try:
            self.storage.merge(stage)
        except Exception as exc:  # sqlite3.IntegrityError and its kin in other backends
            if "UNIQUE" in str(exc).upper() and "coupon_index" in str(exc):
                raise VrsError(
                    Code.IMPORT_REJECTED,
                    "two persons in this area would have the same ticket_number (coupon number);"
                    " nothing was imported",
                ) from None
            if "UNIQUE" in str(exc).upper():
                raise VrsError(
                    Code.IMPORT_REJECTED,
                    "a person in the file is already registered in this area; nothing was imported",
                ) from None
            raise

    def _groups(
        self, text: TextIO
    ) -> Iterator[tuple[int, dict[str, Any], tuple[bool, bool], list[dict[str, Any]], str | None]]:
        """(first row number, person, flags, doses, problem) for each run of one person's rows."""
        reader = _readable(csv.reader(text))
        header = next(reader, [])
        missing = [c for c in ("my_number", "name", "birth_date", "sex") if c not in header]
        if missing:
            raise VrsError(Code.IMPORT_REJECTED, f"missing columns: {', '.join(missing)}")
        # columns by position (no dict per row: the import is CPU-bound); a "" appended to
        # every row stands in for the columns the file lacks
        width = len(header)
        at = {c: header.index(c) if c in header else width for c in IMPORT_COLUMNS}
        person_of = operator.itemgetter(*(at[f] for f in PERSON_FIELDS))
        dose_of = operator.itemgetter(*(at[f] for f in DOSE_FIELDS))
        flags_of = operator.itemgetter(at["moved_out"], at["deceased"])
        current: list[Any] | None = None
        current_key: tuple[str, ...] | None = None
        for line, values in enumerate(reader, start=2):
            values += [""] * (width + 1 - len(values))
            key = person_of(values)
            same_person = key == current_key
            dose = dose_of(values)
            # person fields are checked once per person, dose fields on every row
            problem = (None if same_person else _person_problem(key)) or _dose_problem(dose)
            if problem is not None:
                # the row number and the reason only: the row's contents are personal data
                yield line, {}, (False, False), [], problem
                continue
            if not same_person:
                record = dict(zip(PERSON_FIELDS, (v.strip() for v in key), strict=True))
                if current is not None:
                    if current[1]["my_number"] == record["my_number"]:
                        yield (
                            line,
                            record,
                            (False, False),
                            [],
                            "the same My Number with different personal data",
                        )
                        continue
                    yield tuple(current)  # type: ignore[misc]
                moved, dead = flags_of(values)
                current = [line, record, (_flag(moved), _flag(dead)), [], None]
                current_key = key
            if dose[0]:
                n = int(dose[0])
                assert current is not None
                if any(d["dose_number"] == n for d in current[3]):
                    yield line, current[1], (False, False), [], "the same dose number twice"
                    continue
                current[3].append(
                    {
                        "dose_number": n,
                        **dict(zip(DOSE_FIELDS[1:], (v.strip() for v in dose[1:]), strict=True)),
                    }
                )
        if current is not None:
            yield tuple(current)  # type: ignore[misc]

    def export_csv(self) -> Iterator[str]:
        """Vaccination records without My Number (M17), one row per dose."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EXPORT_COLUMNS)
        for row in self.storage.persons(self.code):
            p = self.keys.open("persons", row.id, row.sealed)
            for d in self.doses(row.id) or [{}]:
                writer.writerow(
                    [
                        p.get("atena_number", ""),
                        p.get("ticket_number", ""),
                        p["name"],
                        p["birth_date"],
                        p["sex"],
                        *(d.get(f, "") for f in DOSE_FIELDS),
                    ]
                )
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    # --- certificates
    def _eligible(self, my_number: str) -> tuple[PersonRow, dict[str, Any], list[dict[str, Any]]]:
        if not self.municipality.offers_convenience_store:
            raise VrsError(
                Code.SERVICE_NOT_OFFERED,
                "this municipality does not provide convenience-store issuance",
            )
        found = self.find(my_number)
        self._check(found[0] if found else None)
        assert found is not None
        row, person = found
        doses = self.doses(row.id)
        if not doses:
            raise VrsError(Code.NO_DOSES, "no vaccination is recorded in this municipality")
        return row, person, doses

    @staticmethod
    def _check(row: PersonRow | None) -> None:
        if row is None:
            raise VrsError(Code.NO_RECORD, "no vaccination record in this municipality")
        if row.deceased:
            raise VrsError(
                Code.DECEASED, "this record cannot be issued; ask at the municipal window"
            )
        if row.moved_out:
            raise VrsError(
                Code.MOVED_OUT,
                "the holder moved out of this municipality; ask at the municipal window",
            )

    def eligibility(self, my_number: str) -> dict[str, Any]:
        _row, person, doses = self._eligible(my_number)
        return {"domestic": True, "overseas": _has_passport(person), "doses": len(doses)}

    def issue(
        self, my_number: str, kind: str, copies: int, actor: str | None = None
    ) -> list[dict[str, Any]]:
        """Signed certificates, their IDs recorded (M19) and, for ``actor``, logged (M15).

        The signing (CPU) happens before the write transaction; the
        transaction only records the IDs and log entries, after checking that
        the person is still there and still eligible.
        """
        row, person, doses = self._eligible(my_number)
        if kind == "overseas" and not _has_passport(person):
            raise VrsError(
                Code.PASSPORT_MISSING,
                "an overseas certificate needs passport data registered at the municipal window",
            )
        kinds = ["overseas", "domestic"] if kind == "overseas" else ["domestic"]
        family, _, given = person["name"].partition("\u3000")
        romaji = person.get("romanized_name") or ""
        holder = Person(
            family_name=family,
            given_name=given or family,
            birth_date=date.fromisoformat(person["birth_date"]),
            romanized_family=romaji.split(" ")[0] if romaji else None,
            romanized_given=romaji.partition(" ")[2] or None if romaji else None,
            nationality=person.get("nationality") or None,
            passport_number=person.get("passport_number") or None,
        )
        shc_doses = [
            Dose(
                d["dose_number"], date.fromisoformat(d["dose_date"]), d["product"], d["lot_number"]
            )
            for d in doses
        ]
        now = clock.now()
        out = []
        # every signature (SHC and seal) before the transaction: if one fails, nothing
        # is recorded and nothing returned
        for k in kinds:
            for _ in range(copies):
                cid = self.code + "".join(secrets.choice("0123456789") for _ in range(10))
                overseas = k == "overseas"
                bundle = build_bundle(
                    holder, shc_doses, overseas=overseas, certificate_id=cid if overseas else None
                )
                jws = sign(self.vrs.issuer, self.vrs.iss, bundle, nbf=int(now.timestamp()))
                seal = self._seal(cid, holder, shc_doses) if overseas else None
                out.append(self._printable(k, cid, now, person, doses, jws, seal))
        with self.storage.transaction():
            # erased, moved out or deceased since it was read: nothing recorded, nothing issued
            self._check(self.storage.get_person(self.code, row.id))
            for cert in out:
                cid = cert["certificate_id"]
                at = now.isoformat(timespec="seconds")
                self.storage.add_certificate(cid, row.id, self.code, cert["type"], at)
                if actor is not None:  # no certificate recorded without its log entry
                    self.vrs.log(actor, self.code, "certificate.issue", cid)
        return out

    def _seal(self, cid: str, holder: Person, doses: list[Dose]) -> dict[str, Any]:
        """The overseas certificate's ICAO VDS-NC seal; its uvci is the certificate ID."""
        assert holder.romanized_family and holder.passport_number  # _has_passport checked it
        data = seal_data(
            uvci=cid,
            family=holder.romanized_family,
            given=holder.romanized_given,
            birth_date=holder.birth_date,
            passport_number=holder.passport_number,
            doses=doses,
            centre=PERFORMER,
        )
        return self.vrs.seal_signer.sign(data)

    def _printable(
        self,
        kind: str,
        cid: str,
        now: datetime,
        person: dict[str, Any],
        doses: list[dict[str, Any]],
        jws: str,
        seal: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        m = self.municipality
        overseas = kind == "overseas"
        return {
            "type": kind,
            "certificate_id": cid,
            "issue_date": now.date().isoformat(),
            "jws": jws,
            "seal": seal,
            "printable": {
                "certificate_type": kind,
                "certificate_id": cid,
                "issue_date": now.date().isoformat(),
                "name": person["name"],
                "birth_date": person["birth_date"],
                "doses": [
                    {
                        "number": d["dose_number"],
                        "date": d["dose_date"],
                        "product": d["product"],
                        "lot": d["lot_number"],
                    }
                    for d in doses
                ],
                "municipality_ja": m.name_ja,
                "municipality_en": m.name_en,
                "mayor_ja": m.mayor_ja,
                "mayor_en": m.mayor_en,
                "qr_value": to_numeric(jws),
                "romanized_name": person.get("romanized_name") if overseas else None,
                "nationality": person.get("nationality") if overseas else None,
                "passport_number": person.get("passport_number") if overseas else None,
                "seal_value": seal_json(seal) if seal is not None else None,
            },
        }


def new_row_id() -> str:
    """Opaque, unique, and increasing: rows append to the primary-key B-tree."""
    return f"{time.time_ns():016x}{secrets.token_hex(4)}"


def _readable(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """The rows, or one clear refusal for a file the CSV reader cannot read (NUL bytes, …)."""
    try:
        yield from reader
    except csv.Error:
        raise VrsError(Code.IMPORT_REJECTED, "the file is not a readable CSV file") from None


def _has_passport(person: dict[str, Any]) -> bool:
    return all(person.get(f) for f in ("romanized_name", "nationality", "passport_number"))


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


_P = {f: i for i, f in enumerate(PERSON_FIELDS)}


def _person_problem(p: tuple[str, ...]) -> str | None:
    """What is wrong with a row's person fields (in PERSON_FIELDS order), if anything."""
    if not my_number_valid(p[_P["my_number"]].strip()):
        return "my_number is not a valid 12-digit My Number"
    if not p[_P["name"]].strip():
        return "name is empty"
    try:
        date.fromisoformat(p[_P["birth_date"]].strip())
    except ValueError:
        return "birth_date is not YYYY-MM-DD"
    if p[_P["sex"]].strip() not in ("1", "2", "9", "0"):
        return "sex is not 1, 2, 9 or 0"
    coupon = p[_P["ticket_number"]].strip()
    if coupon and not (len(coupon) == 10 and coupon.isascii() and coupon.isdigit()):
        return "ticket_number (the vaccination coupon number) is not 10 digits"
    return None


def _dose_problem(d: tuple[str, ...]) -> str | None:
    """What is wrong with a row's dose fields (in DOSE_FIELDS order); no dose number, no dose."""
    number, when, _maker, _kind, product, lot = d
    if not number:
        return None
    if not (number.strip().isascii() and number.strip().isdigit()) or not 1 <= int(number) <= 20:
        return "dose_number is not a number from 1 to 20"
    try:
        date.fromisoformat(when.strip())
    except ValueError:
        return "dose_date is not YYYY-MM-DD"
    if product.strip() not in VACCINES:
        return f"product is not one of {', '.join(VACCINES)}"
    if not lot.strip():
        return "lot_number is empty"
    return None


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, IMPORT_COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({c: r.get(c, "") for c in IMPORT_COLUMNS})
    return buf.getvalue()
