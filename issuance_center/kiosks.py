"""The registry of kiosks: which terminals may use the center at all.

Two lists decide. ``kiosks.json`` names the kiosks (by the CN of their
certificate) and whether each is enabled. The kiosk CA's CRL names the
certificates that must no longer get in: the TLS layer refuses them at the
handshake (``serving.CrlContext``), and the registry, given the same CRL,
refuses them again by serial, so a revoked certificate stays out even where
TLS ends before the center (a proxy) or checks no CRL. A kiosk whose
certificate was revoked gets a new certificate, with a new serial, and keeps
its ID.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import CenterError, Code

log = logging.getLogger("issuance_center")


@dataclass(frozen=True)
class Kiosk:
    id: str
    store: str
    enabled: bool


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class KioskRegistry:
    """``kiosks.json`` (``{"kiosks": [{"id", "store", "enabled"}]}``) and, optionally, the
    kiosk CA's CRL (PEM, checked against ``ca``), each read again when it changes."""

    def __init__(self, path: Path, crl: Path | None = None, ca: Path | None = None) -> None:
        if (crl is None) != (ca is None):
            raise ValueError("a CRL needs the CA that signs it, and the other way round")
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = (-1, -1, -1)
        self._kiosks: dict[str, Kiosk] = {}
        self.crl = Path(crl) if crl is not None else None
        self._ca = x509.load_pem_x509_certificate(Path(ca).read_bytes()) if ca else None
        self._crl_stamp: tuple[int, int, int] | None = None
        self._revoked: frozenset[int] | None = None  # None: no valid CRL, refuse everyone
        self._load_crl()
        if self.crl is not None and self._revoked is None:
            raise ValueError("the kiosk CRL is missing, unreadable or not signed by the kiosk CA")

    def _load(self) -> None:
        # inode, ns mtime and size: two edits within one clock tick are still two changes
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return
        data = json.loads(self.path.read_text()) if stamp is not None else {"kiosks": []}
        self._kiosks = {
            k["id"]: Kiosk(k["id"], k.get("store", ""), bool(k.get("enabled", True)))
            for k in data["kiosks"]
        }
        self._stamp = stamp

    def _load_crl(self) -> None:
        if self.crl is None or self._ca is None:
            return
        stamp = _stamp(self.crl)
        if stamp is not None and stamp == self._crl_stamp:
            return
        revoked: frozenset[int] | None = None
        try:
            crl = x509.load_pem_x509_crl(self.crl.read_bytes())
            key = self._ca.public_key()
            if (
                isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
                and crl.issuer == self._ca.subject
                and crl.is_signature_valid(key)
            ):
                revoked = frozenset(r.serial_number for r in crl)
        except (OSError, ValueError, TypeError):
            pass
        if revoked is None:
            # fail closed, like the TLS layer: without a list no kiosk can be cleared
            log.error("kiosk CRL missing, unreadable or not the kiosk CA's: every kiosk refused")
        # one assignment each: a request checked meanwhile sees the old list or the new one
        self._revoked = revoked
        self._crl_stamp = stamp

    def check(self, kiosk_id: str, serial: int | None = None) -> Kiosk:
        """The kiosk of ``kiosk_id``, if registered, enabled and (``serial``) not revoked."""
        self._load()
        kiosk = self._kiosks.get(kiosk_id)
        if kiosk is None:
            raise CenterError(Code.KIOSK_UNKNOWN, "this kiosk is not registered with the center")
        if not kiosk.enabled:
            raise CenterError(Code.KIOSK_DISABLED, "this kiosk is disabled")
        if self.crl is not None:
            self._load_crl()
            if self._revoked is None:
                raise CenterError(
                    Code.KIOSK_REVOKED, "the center cannot check kiosk certificates right now"
                )
            if serial is None or serial in self._revoked:
                raise CenterError(Code.KIOSK_REVOKED, "this kiosk's certificate is revoked")
        return kiosk

    @staticmethod
    def write(path: Path, kiosks: list[Kiosk]) -> None:
        """Replaces the file whole: a running center never reads half of it."""
        body = {"kiosks": [k.__dict__ for k in kiosks]}
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2))
        os.replace(tmp, path)
