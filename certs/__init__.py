"""The vaccination certificate: SMART Health Card payload, signing, QR, paper, verification.

``build_bundle`` (fhir) → ``sign`` (jws) → ``to_numeric``/``qr_image`` (qr) →
``render_png``/``render_pdf`` (render); ``verify`` checks a card against
trusted key sets. VRS issues with it, the kiosk prints with it.
"""

from __future__ import annotations

from .errors import CertError, Code
from .fhir import VACCINES, Dose, Person, Vaccine, build_bundle, vaccine
from .jws import IssuerKey, make_payload, sign
from .qr import from_numeric, qr_image, read_image, to_numeric
from .render import Printable, printable_from_json, render_page, render_pdf, render_png
from .verify import KeySets, Verification, verify

__all__ = [
    "VACCINES",
    "CertError",
    "Code",
    "Dose",
    "IssuerKey",
    "KeySets",
    "Person",
    "Printable",
    "Vaccine",
    "Verification",
    "build_bundle",
    "from_numeric",
    "make_payload",
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
