"""Certificate benchmarks: build + sign + QR-encode, the two QR libraries compared, the
ICAO VDS-NC seal, rendering.

.venv/bin/python benchmarks/bench_certs.py [--rounds N]

Targets (2-core machine): build + sign + QR ≤ 5 ms median; build + sign the seal ≤ 2 ms;
both QR codes of an overseas certificate ≤ 10 ms; render the page ≤ 150 ms (PNG and PDF
each). Times are medians of wall time, with the process's CPU time beside them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date

import qrcode
import qrcode.util

from certs import IssuerKey, build_bundle, render_pdf, render_png, sample, sign, to_numeric, vds_pki
from certs.qr import bytes_symbol, qr_symbol, version
from certs.render import QR_MODULE
from certs.vds import seal_json


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm-up: fonts, caches
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def median_wall_cpu(fn: Callable[[], object], rounds: int) -> str:
    """Median wall and CPU time (time.process_time: this process, all threads), in ms."""
    fn()
    wall, cpu = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return f"{statistics.median(wall):7.2f} ms (CPU {statistics.median(cpu):6.2f} ms)"


def qrcode_segments(numeric: str, mask: int | None = None) -> int:
    """The ``qrcode`` package given the two segments itself (byte ``shc:/``, then numeric)."""
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, mask_pattern=mask)
    q.add_data(qrcode.util.QRData(b"shc:/", mode=qrcode.util.MODE_8BIT_BYTE))
    q.add_data(qrcode.util.QRData(numeric[5:], mode=qrcode.util.MODE_NUMBER))
    q.make(fit=True)
    return q.version


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args()
    rounds, slow = args.rounds, max(10, args.rounds // 5)
    key = IssuerKey.generate()

    def card(n: int, overseas: bool = False) -> str:
        bundle = build_bundle(sample.person(overseas), sample.doses(n), overseas=overseas)
        return sign(key, sample.ISS, bundle)

    for n, overseas in ((2, False), (5, False), (5, True)):
        jws = card(n, overseas)
        kind = "overseas" if overseas else "domestic"
        v = version(qr_symbol(to_numeric(jws)))
        print(f"{n}-dose {kind:8} certificate: JWS {len(jws)} chars, QR version {v}")

    def issue() -> object:
        return qr_symbol(to_numeric(card(3)))

    print(f"build + sign + QR-encode, 3 doses (zxing-cpp): {median_ms(issue, rounds):7.2f} ms")
    bundle = build_bundle(sample.person(), sample.doses(3))
    build = median_ms(lambda: build_bundle(sample.person(), sample.doses(3)), rounds)
    print(f"  of which: build the FHIR bundle              {build:7.2f} ms")
    signing = median_ms(lambda: sign(key, sample.ISS, bundle), rounds)
    print(f"  of which: minify, DEFLATE, ES256 sign        {signing:7.2f} ms")
    numeric = to_numeric(card(5, True))
    print(f"QR encode only, version {version(qr_symbol(numeric))}:")
    print(
        f"  zxing-cpp:                                   {median_ms(lambda: qr_symbol(numeric), rounds):7.2f} ms"
    )
    print(
        f"  qrcode, two segments, best mask chosen:      {median_ms(lambda: qrcode_segments(numeric), slow):7.2f} ms"
    )
    print(
        f"  qrcode, two segments, mask given:            {median_ms(lambda: qrcode_segments(numeric, 0), slow):7.2f} ms"
    )

    # the overseas certificate: its SHC names the certificate ID, the seal sits beside it
    cid = "3820510000000001"
    csca_key, csca = vds_pki.make_csca()
    signer = vds_pki.make_signer(csca_key, csca)
    print("ICAO VDS-NC seal (ES256 over RFC 8785 JCS), overseas certificate:")
    print(
        f"  build + sign the seal, 3 doses:              {median_wall_cpu(lambda: sample.seal(cid, signer, 3), rounds)}"
    )
    for n in (3, 5):
        bundle = build_bundle(
            sample.person(True), sample.doses(n), overseas=True, certificate_id=cid
        )
        shc = to_numeric(sign(key, sample.ISS, bundle))
        seal = seal_json(sample.seal(cid, signer, n)).encode()
        sv, qv = version(qr_symbol(shc)), version(bytes_symbol(seal))

        def both(shc: str = shc, seal: bytes = seal) -> object:
            return qr_symbol(shc), bytes_symbol(seal)

        print(f"  both QR codes, {n} doses:                     {median_wall_cpu(both, rounds)}")
        for name, v, size in (("SHC ", sv, len(shc)), ("seal", qv, len(seal))):
            m = 17 + 4 * v
            print(
                f"    {name}: {size} characters, QR version {v}, {m} modules of"
                f" {QR_MODULE:.3f} mm = {m * QR_MODULE:.1f} mm a side"
            )
    bundle = build_bundle(sample.person(True), sample.doses(5), overseas=True, certificate_id=cid)
    page = sample.printable(
        to_numeric(sign(key, sample.ISS, bundle)),
        cid,
        date(2026, 11, 27),
        True,
        5,
        seal_json(sample.seal(cid, signer, 5)),
    )
    print("render the printable page (5 doses, overseas, SHC and seal):")
    print(
        f"  PNG, 200 dpi (Pillow):                       {median_wall_cpu(lambda: render_png(page), slow)}"
    )
    print(
        f"  PDF, vector (ReportLab):                     {median_wall_cpu(lambda: render_pdf(page), slow)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
