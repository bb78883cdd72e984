"""`kiosk-sim security`: every attack, fault and bad-input class, the cases tried, the outcome.

Like `kiosk-sim measures`, it runs nothing: tests carry ``@pytest.mark.security("A01")``
and the suite's hooks (``tests/conftest.py``) write ``.test-results/security.json``
with each test's outcome and the number of cases it tried (a hypothesis test
counts its examples). The load test (``benchmarks/load.py``) and the fuzzing
campaign (``bin/campaign``) write their own result files beside it. With
``--write docs/security.md`` the report becomes the repository's security page.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / ".test-results"

# id -> (kind, what is tried, what must happen). Tests name the id in their marker.
CLASSES: dict[str, tuple[str, str, str]] = {
    # Attacks: each refused, the refusal logged without personal data.
    "A01": ("attack", "Card data replayed without a fresh card-presence signature", "refused"),
    "A02": ("attack", "Card files edited by one byte", "refused"),
    "A03": ("attack", "A card certificate (CVC) from an unknown issuer key", "refused"),
    "A04": ("attack", "A genuine card's data with another card's signature", "refused"),
    "A05": ("attack", "A kiosk without a client certificate", "refused at the handshake"),
    "A06": ("attack", "A kiosk certificate from another CA", "refused at the handshake"),
    "A07": ("attack", "A revoked kiosk certificate", "refused"),
    "A08": ("attack", "A disabled kiosk", "refused"),
    "A09": ("attack", "A municipality that does not offer the service", "refused"),
    "A10": ("attack", "A request naming another municipality's resident", "refused"),
    "A11": ("attack", "Staff: a revoked ID", "refused"),
    "A12": ("attack", "Staff: a role used beyond its privilege", "refused"),
    "A13": ("attack", "Staff: reading another municipality's area", "refused"),
    "A14": ("attack", "Staff: a national or prefectural role asking for personal data", "refused"),
    "A15": ("attack", "Staff: repeated failed logins", "detected and reported (M20)"),
    "A16": (
        "attack",
        "PIN guessing through the kiosk",
        "the card's counter decides; no try after the lock",
    ),
    "A17": ("attack", "The internet-facing side asking for My Numbers (M12)", "unreachable"),
    # Faults: nothing lost, nothing left behind, a clear message to the resident.
    "F01": ("fault", "The card removed at every APDU of the flow", "clean abort"),
    "F02": ("fault", "The reader unplugged", "clean abort"),
    "F03": ("fault", "pcscd restarted", "clean abort, the kiosk recovers"),
    "F04": ("fault", "VRS slow", "clear message, no charge"),
    "F05": ("fault", "VRS down", "clear message, no charge"),
    "F06": ("fault", "VRS restarted mid-transaction", "clear message, no charge"),
    "F07": ("fault", "The center slow", "clear message, no charge"),
    "F08": ("fault", "The center down", "clear message, no charge"),
    "F09": ("fault", "The center restarted mid-transaction", "clear message, no charge"),
    "F10": ("fault", "The printer failing", "no charge"),
    "F11": ("fault", "VRS disk full during import", "nothing half-written, the database opens"),
    "F12": ("fault", "VRS disk full during issuance", "nothing half-written, the database opens"),
    # Bad input: no crash other than the documented error types; 4xx with a reason.
    "B01": ("input", "The TLV parser and the card file parsers", "only CardError"),
    "B02": ("input", "Card responses the client accepts", "only CardError"),
    "B03": ("input", "Card data and signatures sent to verification", "only CardError"),
    "B04": ("input", "The SMART Health Card decoder (JWS, file, key sets)", "only CertError"),
    "B05": ("input", "The QR decoder path (shc:/ values, images)", "only CertError"),
    "B06": (
        "input",
        "The center's HTTP API against its OpenAPI description",
        "no 5xx, 4xx with a reason",
    ),
    "B07": (
        "input",
        "VRS's HTTP APIs against their OpenAPI descriptions",
        "no 5xx, 4xx with a reason",
    ),
}
KINDS = {"attack": "Attacks", "fault": "Faults", "input": "Bad input"}
