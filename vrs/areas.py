"""The record system and its areas: one per municipality, each under its own keys.

Every method works inside one municipality's area (M10): the area is chosen
by the caller's identity before anything is read, and every query names it.
``Vrs`` holds the areas, the issuer's keys and the operation log, and re-seals
once a database made before dose keys (``FORMAT``); an ``Area``
reads and erases its persons and hands the ledger (ledger_import.py,
ledger_rows.py), eligibility (eligibility.py) and issuance (issuance.py) the
area they work in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

from certs import IssuerKey
from certs.vds import SealSigner

from . import clock
from .crypto import AreaKeys, MasterKey, new_data_key
from .eligibility import eligibility_of
from .errors import Code, VrsError
from .issuance import issue
from .ledger_import import import_ledger
from .ledger_rows import export_rows
from .municipalities import Municipality, valid_municipality_code
from .storage import MunicipalityRow, PersonRow, Storage

# how blobs are sealed: 1 (no meta row) dose lists under the area's data key, 2 under its dose key
FORMAT = 2


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
                    self.storage.put_doses(code, pid, doses.seal_doses(pid, plain))
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
        blob = self.storage.doses(self.code, person_id)
        return self.keys.dose_keys().open_doses(person_id, blob) if blob else []

    # --- writing
    def erase(self, person_id: str) -> bool:
        """Only this area's rows can be erased through this area (M16)."""
        with self.storage.transaction():
            return self.storage.erase_person(self.code, person_id)

    # --- the ledger, eligibility and issuance, each in its own module
    def import_csv(self, text: TextIO, actor: str | None = None) -> int:
        """All rows or none (ledger_import.py); logged as ``actor``'s when given."""
        return import_ledger(self, text, actor)

    def export_csv(self) -> Iterator[str]:
        """Vaccination records without My Number (M17), one row per dose."""
        return export_rows(self)

    def eligibility(self, my_number: str) -> dict[str, Any]:
        return eligibility_of(self, my_number)

    def issue(
        self,
        my_number: str,
        kind: str,
        copies: int,
        actor: str | None = None,
        *,
        session_id: str,
    ) -> list[dict[str, Any]]:
        """Signed certificates, their IDs recorded (M19) and, for ``actor``, logged (M15);
        once per ``session_id`` (the center's session)."""
        return issue(self, my_number, kind, copies, actor, session_id=session_id)
