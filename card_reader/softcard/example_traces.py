"""Writes the example APDU traces in ``traces/``, the same bytes every time.

    .venv/bin/python -m card_reader.softcard.example_traces [DIR]

Each is a session of the kiosk's card client (SELECT, tries left, VERIFY, EF 0001-0004
and 0007, the card-presence signature) with the demo holder's software card behind a
``FaultyCard``. To be reproducible the card's keys come from a fixed seed (made here,
never stored), the HMAC key is a published one (these are the specimen holder's
files, not a person's), and time is the card's own: each APDU took the card's delay.
``tests/card_reader/test_trace.py`` checks that this writes the committed files.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ..client import TextApplication
from ..errors import CardError
from ..trace import TraceWriter, TracingTransport
from ..transport import InMemoryTransport
from .card import SoftCard
from .faults import FaultyCard
from .issuer import DevCardIssuer
from .profile import CardState, Profile

HERE = Path(__file__).parent / "traces"
EXAMPLE_KEY = b"kiosk-sim example traces: a published key, for the specimen card only"
CHALLENGE = bytes(32)
SLOW_DELAY = 0.15  # seconds per APDU: a slow contactless reader
GARBAGE_AT = 4  # READ BINARY of EF 0001, right after the PIN
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def _prime(rng: random.Random, bits: int) -> int:
    while True:
        c = rng.getrandbits(bits) | (3 << (bits - 2)) | 1  # two top bits: n has 2 * bits
        if any(c % p == 0 for p in _SMALL_PRIMES) or (c - 1) % 65537 == 0:
            continue
        d, s = c - 1, 0
        while d % 2 == 0:
            d, s = d // 2, s + 1
        for _ in range(40):  # Miller-Rabin
            x = pow(rng.randrange(2, c - 1), d, c)
            if x in (1, c - 1):
                continue
            for _ in range(s - 1):
                x = pow(x, 2, c)
                if x == c - 1:
                    break
            else:
                break
        else:
            return c


def seeded_key(seed: str) -> rsa.RSAPrivateKey:
    """An RSA-2048 key that is the same for the same seed (for example traces only)."""
    rng = random.Random(seed)
    p, q = _prime(rng, 1024), _prime(rng, 1024)
    e = 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    return rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    ).private_key()


def _session(card: FaultyCard, path: Path, step: float) -> None:
    # the clock is the card's: ``step`` seconds per APDU it has seen
    writer = TraceWriter(
        path,
        EXAMPLE_KEY,
        clock=lambda: card.count * step,
        wall=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    with TracingTransport(InMemoryTransport(card), writer, owns_writer=True) as transport:
        app = TextApplication(transport)
        try:
            app.select()
            app.pin_tries_left()
            app.verify_pin(Profile.demo().pin)
            app.read_card_files(CHALLENGE)
        except CardError:
            pass  # the fault ends the session, as it would the kiosk's


# name -> the FaultyCard's faults, and how long each APDU took
EXAMPLES: dict[str, tuple[dict[str, Any], float]] = {
    "slow-card.jsonl": ({"delay": SLOW_DELAY}, SLOW_DELAY),
    "garbage-answer.jsonl": ({"garbage_at": GARBAGE_AT}, 0.001),
}


def write_examples(out: Path = HERE) -> list[Path]:
    issuer = DevCardIssuer(seeded_key("example root"), seeded_key("example signer"))
    card_key = seeded_key("example card")
    written = []
    for name, (faults, step) in EXAMPLES.items():
        card = SoftCard.personalized(Profile.demo(), issuer, CardState(card_key))
        _session(FaultyCard(card, **faults), out / name, step)
        written.append(out / name)
    return written


if __name__ == "__main__":
    for path in write_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(path)
