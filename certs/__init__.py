"""The vaccination certificate: SMART Health Card payload, signing, QR, paper, verification.

Issuing (VRS): ``build_bundle(Person, [Dose])`` → ``sign(IssuerKey, iss, bundle)`` (a
compact JWS) → ``to_numeric`` (the ``shc:/`` value) → ``qr_image``; the page's facts
as a ``Printable`` (``to_json`` on the wire). Printing (kiosk): ``Printable.from_json``
→ ``render_png``/``render_pdf``. Verifying: ``verify(jws, KeySets)``
gives a ``Verification`` listing every problem; ``from_numeric``, ``open_image`` and
``read_image`` turn QR values and picture files back into the JWS, ``file_credentials``
reads a ``.smart-health-card`` file. Every failure raised is a ``CertError``.

The overseas certificate's ICAO VDS-NC seal is ``certs.vds`` (errors: ``VdsError``) and
its development PKI ``certs.vds_pki``; certs/README.md describes both.

QR symbols and pictures (zxing-cpp, Pillow) and the page load on first use (PEP 562):
VRS signs and encodes certificates without either.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import CertError, Code
from .fhir import VACCINES, Dose, Person, Vaccine, build_bundle, vaccine
from .jws import IssuerKey, make_payload, sign
from .numeric import from_numeric, to_numeric
from .printable import Printable, printable_from_json
from .verify import KeySets, Problem, Verification, file_credentials, verify

if TYPE_CHECKING:
    from .qr import open_image, qr_image, read_image
    from .render import render_page, render_pdf, render_png

_LAZY = {
    **dict.fromkeys(("open_image", "qr_image", "read_image"), "qr"),
    **dict.fromkeys(("render_page", "render_pdf", "render_png"), "render"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "VACCINES",
    "CertError",
    "Code",
    "Dose",
    "IssuerKey",
    "KeySets",
    "Person",
    "Printable",
    "Problem",
    "Vaccine",
    "Verification",
    "build_bundle",
    "file_credentials",
    "from_numeric",
    "make_payload",
    "open_image",
    "printable_from_json",
    "qr_image",
    "read_image",
    "render_page",
    "render_pdf",
    "render_png",
    "sign",
    "to_numeric",
    "vaccine",
    "verify",
]
