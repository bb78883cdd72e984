"""The development PKI of the VDS-NC seal: a CSCA-style root and one barcode signer.

Made at first run in ``INSTANCE/vds-pki/``: ``csca.pem`` (published), ``signer.pem``
and ``signer.key.pem`` (0600). The CSCA's private key signs the signer and is then
dropped: it never lies on disk, as a real CSCA key never leaves its offline HSM.
When the signer's private key usage period ends, a new CSCA and signer are made and
the new CSCA is appended to ``csca.pem``, so seals signed before still verify.

Profiles follow the ICAO guidelines (certs/README.md has the table): the signer has
the VDS-NC EKU (critical), a documentTypeList with ``NV``, AKI/SKI, a private key
usage period of 96 days and a validity of that plus 10 years (the longest a
vaccination proof is kept and checked).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import clock
from .vds import (
    DOC_TYPE,
    DOCUMENT_TYPE_LIST,
    EKU_VDS_NC,
    SealSigner,
    encode_document_type_list,
    load_csca,
)

SIGNER_PKUP = timedelta(days=96)  # the guidelines' barcode signer key usage: about 3 months
PROOF_LIFE = timedelta(days=365 * 10 + 2)  # a seal signed on the last day still verifies
CSCA_PKUP = timedelta(days=365 * 4 + 1)
CSCA_LIFE = CSCA_PKUP + SIGNER_PKUP + PROOF_LIFE  # covers every signer it may issue
BACKDATE = timedelta(minutes=5)  # a verifier whose clock runs a little slow still accepts


def _name(cn: str) -> x509.Name:
    # short names: the signer certificate rides in every seal's QR code
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key_usage(*, csca: bool) -> x509.KeyUsage:
    """A CSCA signs certificates and CRLs only; a barcode signer signs seals only."""
    return x509.KeyUsage(
        digital_signature=not csca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=csca,
        crl_sign=csca,
        encipher_only=False,
        decipher_only=False,
    )


def make_csca(
    now: datetime | None = None, cn: str = "kiosk-sim CSCA (dev)"
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = now or clock.now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CSCA_LIFE)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(csca=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.PrivateKeyUsagePeriod(not_before=now, not_after=now + CSCA_PKUP), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_signer(
    csca_key: ec.EllipticCurvePrivateKey,
    csca: x509.Certificate,
    now: datetime | None = None,
    *,
    life: timedelta = SIGNER_PKUP + PROOF_LIFE,
    eku: bool = True,
    doc_types: tuple[str, ...] = (DOC_TYPE,),
) -> SealSigner:
    """A barcode signer issued by ``csca`` (tests make other profiles with the keywords)."""
    now = now or clock.now()
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("kiosk-sim VDS-NC signer (dev)"))
        .issuer_name(csca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + life)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(csca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            _key_usage(csca=False),
            critical=True,
        )
        .add_extension(
            x509.PrivateKeyUsagePeriod(not_before=now, not_after=now + SIGNER_PKUP),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(DOCUMENT_TYPE_LIST, encode_document_type_list(doc_types)),
            critical=False,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([EKU_VDS_NC]), critical=True)
    return SealSigner(key, builder.sign(csca_key, hashes.SHA256()), [csca])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # O_CREAT's mode is cut by the umask; a key stays 0600 whatever it is


def _usable(signer: SealSigner, now: datetime) -> bool:
    try:
        pkup = signer.cert.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    except x509.ExtensionNotFound:
        return now < signer.cert.not_valid_after_utc
    return pkup.not_after is None or now < pkup.not_after.replace(tzinfo=now.tzinfo)


def load_or_create(folder: Path) -> SealSigner:
    """The instance's barcode signer; a new CSCA and signer at first run or after the PKUP."""
    folder = Path(folder)
    key_file, cert_file, csca_file = (
        folder / "signer.key.pem",
        folder / "signer.pem",
        folder / "csca.pem",
    )
    now = clock.now()
    if key_file.exists() and cert_file.exists():
        signer = SealSigner.load(key_file, cert_file, csca_file)
        if _usable(signer, now):
            return signer
    folder.mkdir(parents=True, exist_ok=True)
    csca_key, csca = make_csca(now)
    signer = make_signer(csca_key, csca, now)
    del csca_key  # never written: the CSCA signs this one signer only
    key_pem = signer.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # the CSCA first: a signer on disk is always one the published list can verify
    older = csca_file.read_bytes() if csca_file.exists() else b""
    _write_new(csca_file.with_suffix(".tmp"), older + _pem(csca), 0o644)
    os.replace(csca_file.with_suffix(".tmp"), csca_file)
    _write_new(key_file, key_pem, 0o600)
    _write_new(cert_file, _pem(signer.cert), 0o644)
    return SealSigner(signer.key, signer.cert, load_csca(csca_file))
