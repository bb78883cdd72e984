"""`kiosk-sim security`: every attack, fault and bad-input class, the cases tried, the outcome.

Like `kiosk-sim measures`, it runs nothing: tests carry ``@pytest.mark.security("A01")``
and the suite's hooks (``tests/conftest.py``) write ``.test-results/security.json``
with each test's outcome and the number of cases it tried (a hypothesis test
counts its examples). The load test (``benchmarks/load.py``) and the fuzzing
campaign (``bin/campaign``) write their own result files beside it. With
``--write docs/security.md`` the report becomes the repository's security page.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TypedDict

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
    "B08": (
        "input",
        "`cert verify` arguments: values, files, pictures, PDFs, seals",
        "exit 1 or 2 with a reason, never a traceback",
    ),
    "B09": ("input", "The ICAO VDS-NC seal parser and verifier (certs.vds)", "only VdsError"),
    "B10": (
        "input",
        "The kiosk screen's and the demo control page's local HTTP APIs against their"
        " OpenAPI descriptions",
        "no 5xx, 4xx with a reason",
    ),
}
KINDS = {"attack": "Attacks", "fault": "Faults", "input": "Bad input"}


def _load(path: Path) -> dict[str, Any] | None:
    try:
        results: dict[str, Any] = json.loads(path.read_text())  # the object a run wrote
    except (OSError, ValueError):
        return None
    return results


class ClassRow(TypedDict):
    id: str
    kind: str  # attack, fault or input
    what: str
    expected: str
    status: str  # held, failed or open
    cases: int
    tests: list[dict[str, Any]]  # as the last test run wrote them


def report(tests: list[dict[str, Any]]) -> list[ClassRow]:
    """One row per class: its tests, the cases they tried, and a status."""
    rows: list[ClassRow] = []
    for cid, (kind, what, expected) in CLASSES.items():
        trying = [t for t in tests if cid in t["classes"]]
        failed = [t for t in trying if t["outcome"] == "failed"]
        passed = [t for t in trying if t["outcome"] == "passed"]
        status = "failed" if failed else "held" if passed else "open"
        rows.append(
            {
                "id": cid,
                "kind": kind,
                "what": what,
                "expected": expected,
                "status": status,
                "cases": sum(t["cases"] for t in passed),
                "tests": trying,
            }
        )
    return rows


def markdown(
    results: dict[str, Any],
    rows: list[ClassRow],
    load: dict[str, Any] | None,
    fuzz: dict[str, Any] | None,
) -> str:
    held = sum(r["status"] == "held" for r in rows)
    out = [
        "# Security: attacks, faults, bad input and load",
        "",
        "Generated by `kiosk-sim security --write docs/security.md` from the last test run"
        f" ({results['when']}, hypothesis profile `{results['hypothesis_profile']}`)"
        + (", the fuzzing campaign and the load test" if fuzz or load else "")
        + ". Do not edit by hand: rerun `bin/test` (or `bin/campaign` for the long"
        " fuzzing and load campaign) and the command above.",
        "",
        f"**{held} of {len(rows)} classes held** (every case refused or survived as expected);"
        " a class is *open* when no passing test tries it."
        " A case is one attempt: one request, one mutated file, one APDU position, one"
        " generated input (hypothesis counts its examples).",
        "",
    ]
    for kind, title in KINDS.items():
        out += [
            f"## {title}",
            "",
            "| id | tried | expected | cases | tests | outcome |",
            "|---|---|---|--:|--:|---|",
        ]
        for r in (r for r in rows if r["kind"] == kind):
            passed = sum(t["outcome"] == "passed" for t in r["tests"])
            out.append(
                f"| {r['id']} | {r['what']} | {r['expected']} | {r['cases']} "
                f"| {passed}/{len(r['tests'])} | {r['status']} |"
            )
        out.append("")
    if fuzz:
        out += [
            "## Fuzzing campaign (atheris)",
            "",
            f"`fuzz/run.py` in `bin/campaign` ({fuzz.get('when', '?')}): coverage-guided,"
            " seeded with the spec vectors and genuine cards; a crash is any exception other"
            " than the documented error types, a hang, or a changed card that verifies.",
            "",
            "| target | executions | seconds | crashes |",
            "|---|--:|--:|--:|",
        ]
        for t in fuzz.get("targets", []):
            out.append(
                f"| {t['target']} | {t['executions']:,} | {t['seconds']:g} | {t['crashes']} |"
            )
        out.append("")
    if load:
        out += [
            "## Load",
            "",
            f"`benchmarks/load.py --kiosks {load['kiosks']} --seconds {load['seconds']:g}`"
            f" ({load['when']}): simulated kiosks (software cards on the in-memory transport)"
            " issuing domestic certificates through the center and VRS over mutual TLS on"
            f" loopback, all on one {load.get('cpus', '?')}-CPU machine (the kiosks' card reading"
            " and signing included).",
            "",
            f"- issued: {load['issued']}, failed: {load['failed']}"
            f" ({load['per_second']:g} issuances/s)",
            f"- latency from session to certificate, card read included: p50 {load['p50_ms']:.0f} ms,"
            f" p99 {load['p99_ms']:.0f} ms",
        ]
        for name, m in load["memory"].items():
            out.append(
                f"- memory, {name}: {m['start_mb']:.0f} MB at start, peak {m['peak_mb']:.0f} MB,"
                f" {m['end_mb']:.0f} MB at the end ({m['second_half_growth_mb']:+.1f} MB over the"
                " second half)"
            )
        out += [
            f"- personal data afterwards in the {load['files_searched']} files the center and the"
            f" kiosks wrote (center log included), {load['secrets_searched']} values searched:"
            f" {load['personal_data_found'] or 'none'}",
            "",
        ]
    out += ["## Tests behind each class", ""]
    for r in rows:
        out.append(f"- **{r['id']}** {r['what']}: {r['status']}")
        for t in r["tests"]:
            out.append(f"  - `{t['test']}`: {t['outcome']}, {t['cases']} case(s)")
    out.append("")
    return "\n".join(out)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("security", help="attacks, faults and bad input tried by the tests")
    p.add_argument("--results", type=Path, default=RESULTS_DIR)
    p.add_argument("--write", type=Path, metavar="FILE", help="write the Markdown report here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results = _load(args.results / "security.json")
    if results is None:
        print(f"error: no test results yet ({args.results / 'security.json'}); run bin/test first")
        return 2
    rows = report(results["tests"])
    load, fuzz = _load(args.results / "load.json"), _load(args.results / "fuzz.json")
    if args.json:
        print(json.dumps({"classes": rows, "load": load, "fuzz": fuzz}, ensure_ascii=False))
    elif args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(markdown(results, rows, load, fuzz), encoding="utf-8")
        print(f"wrote {os.path.relpath(args.write)}")
    else:
        for r in rows:
            print(f"{r['id']}  {r['status']:<6} {r['cases']:>7} cases  {r['what']}")
        held = sum(r["status"] == "held" for r in rows)
        print(f"\n{held} of {len(rows)} classes held")
    return 0 if all(r["status"] == "held" for r in rows) else 1
