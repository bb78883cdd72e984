"""What the atheris targets share: genuine cards and certificates for seeds, and the entry point.

A target imports the project's modules inside ``atheris.instrument_imports`` first
(coverage comes from them), then this module. It is run as
``python fuzz/TARGET.py CORPUS_DIR [libFuzzer flags]``: the seeds go into
CORPUS_DIR, then libFuzzer mutates them. ``fuzz/run.py`` runs every target so.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import atheris
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from card_reader import CardFiles, InMemoryTransport, TextApplication, TrustStore
from card_reader.softcard import CardState, DevCardIssuer, Profile, SoftCard
from certs import IssuerKey, KeySets, build_bundle, make_payload, sample, to_numeric
from certs.jws import b64url, deflate, minify

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT.parent / "shared" / "vectors"  # absent in a clone without ../shared: fewer seeds
SHC = VECTORS / "smart-health-cards"
CHALLENGE = b"fuzz-challenge"
PIN = "1234"


def flow(app: TextApplication) -> CardFiles:
    """What a kiosk asks a card, in order; the card target replays answers to exactly this."""
    app.select()
    app.pin_tries_left()
    app.verify_pin(PIN)
    app.read_my_number()
    app.read_basic_info()
    return app.read_card_files(CHALLENGE)


class Recorder:
    """A card that passes commands to another and keeps its answers."""

    def __init__(self, card: SoftCard) -> None:
        self.card = card
        self.answers: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def execute(self, apdu: bytes) -> bytes:
        answer = bytes(self.card.execute(apdu))
        self.answers.append(answer)
        return answer


def encode_answers(answers: Iterable[bytes]) -> bytes:
    """The card target's input format: each answer with a 2-byte length before it."""
    return b"".join(len(a).to_bytes(2, "big") + a for a in answers)


def decode_answers(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 2 <= len(data):
        n = int.from_bytes(data[pos : pos + 2], "big")
        out.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return out


@dataclass(frozen=True)
class GenuineCard:
    files: CardFiles
    trust: TrustStore
    answers: dict[str, list[bytes]]  # profile variant -> the card's answers to ``flow``


@cache
def genuine_card() -> GenuineCard:
    """A software My Number Card of a fresh development issuer, read through ``flow``."""
    with tempfile.TemporaryDirectory() as tmp:  # the keys stay in memory; no file is kept
        issuer = DevCardIssuer.load_or_create(Path(tmp))
    answers, files = {}, None
    for variant in ("short", "long"):
        holder = dataclasses.replace(Profile.demo(), variant=variant, pin=PIN)
        recorder = Recorder(SoftCard.personalized(holder, issuer, CardState.new()))
        files = flow(TextApplication(InMemoryTransport(recorder)))
        answers[variant] = recorder.answers
    assert files is not None
    return GenuineCard(files, issuer.trust_store(), answers)


@dataclass(frozen=True)
class GenuineShc:
    keys: KeySets  # the test issuer's and, with the vectors, the spec's example issuer
    jwss: frozenset[str]  # every genuine card those keys verify
    issuer: IssuerKey
    private: ec.EllipticCurvePrivateKey  # the test issuer's
    payload: bytes  # one of its cards' payloads, minified

    def sign_raw(self, header: bytes, payload: bytes) -> str:
        """Any header and payload bytes as a JWS the test issuer signed (payload DEFLATEd)."""
        signing_input = f"{b64url(header)}.{b64url(deflate(payload))}"
        der = self.private.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@cache
def genuine_shc() -> GenuineShc:
    private = ec.generate_private_key(ec.SECP256R1())
    issuer = IssuerKey(private)
    keys = KeySets()
    keys.add_jwks(issuer.jwks(), "fuzz issuer")
    payloads = [
        make_payload(sample.ISS, build_bundle(sample.person(o), sample.doses(n), overseas=o))
        for o, n in ((False, 1), (True, 3))
    ]
    jwss = {issuer.sign_compact(p) for p in payloads}
    if SHC.is_dir():
        keys.add_path(SHC / "issuer")
        jwss |= {p.read_text().strip() for p in SHC.glob("example-*-d-jws.txt")}
    return GenuineShc(keys, frozenset(jwss), issuer, private, minify(payloads[1]))


def spec_files(pattern: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(SHC.glob(pattern))] if SHC.is_dir() else []


def numeric_values() -> list[str]:
    """Every genuine card's shc:/ value(s); a chunked spec card as its chunks, one a line."""
    values = [to_numeric(jws) for jws in sorted(genuine_shc().jwss)]
    for ex in ("00", "02"):
        chunks = spec_files(f"example-{ex}-f-qr-code-numeric-value-*.txt")
        if chunks:
            values.append("\n".join(c.decode().strip() for c in chunks))
    return values


def main(
    test_one_input: Callable[[bytes], None], seeds: Callable[[], Iterable[bytes]], max_len: int
) -> None:
    """Seeds into the corpus folder (the first argument that is no flag), then libFuzzer.

    Inputs up to ``max_len`` from the start (``-len_control=0``): a picture or a JWS cut
    to libFuzzer's first few hundred bytes tries little.
    """
    flags = [a.split("=")[0] for a in sys.argv[1:]]
    sys.argv += [
        f for f in (f"-max_len={max_len}", "-len_control=0") if f.split("=")[0] not in flags
    ]
    folders = [a for a in sys.argv[1:] if not a.startswith("-")]
    if folders and not Path(folders[0]).is_file():  # a file: reproducing one input
        corpus = Path(folders[0])
        corpus.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (corpus / f"seed-{i:03d}").write_bytes(seed)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


@dataclass(frozen=True)
class GenuineSeal:
    trust: list[Any]  # the CSCA certificate of the test barcode signer
    seals: tuple[dict[str, Any], ...]  # seals it signed: 1 dose domestic-style, 5 doses
    signer: Any


@cache
def genuine_seal() -> GenuineSeal:
    """ICAO VDS-NC seals of a fresh development CSCA and barcode signer (kept in memory)."""
    from certs import vds_pki

    key, csca = vds_pki.make_csca()
    signer = vds_pki.make_signer(key, csca)
    seals = tuple(sample.seal(f"SAMPLE-{n:010d}", signer, n) for n in (1, 5))
    return GenuineSeal([csca], seals, signer)
