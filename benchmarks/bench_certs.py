"""Certificate benchmarks: build + sign + QR-encode, the QR libraries compared, rendering.

.venv/bin/python benchmarks/bench_certs.py [--rounds N]
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

from certs import IssuerKey, build_bundle, render_pdf, render_png, sample, sign, to_numeric
from certs.qr import qr_symbol, version


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm-up (fonts, caches)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def qrcode_segments(numeric: str) -> int:
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L)
    q.add_data(qrcode.util.QRData(b"shc:/", mode=qrcode.util.MODE_8BIT_BYTE))
    q.add_data(qrcode.util.QRData(numeric[5:], mode=qrcode.util.MODE_NUMBER))
    q.make(fit=True)
    return q.version


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args()
    key = IssuerKey.generate()

    for n, overseas in ((2, False), (5, False), (5, True)):
        jws = sign(
            key,
            sample.ISS,
            build_bundle(sample.person(overseas), sample.doses(n), overseas=overseas),
        )
        kind = "overseas" if overseas else "domestic"
        print(
            f"{n}-dose {kind} certificate: JWS {len(jws)} chars, QR version {version(qr_symbol(to_numeric(jws)))}"
        )

    def issue() -> object:
        jws = sign(key, sample.ISS, build_bundle(sample.person(), sample.doses(3)))
        return qr_symbol(to_numeric(jws))

    numeric = to_numeric(
        sign(key, sample.ISS, build_bundle(sample.person(True), sample.doses(5), overseas=True))
    )
    print(
        f"build + sign + QR-encode (3 doses, zxing-cpp): median {median_ms(issue, args.rounds):.2f} ms"
    )
    print(
        f"QR encode only, zxing-cpp:            median {median_ms(lambda: qr_symbol(numeric), args.rounds):.2f} ms"
    )
    print(
        f"QR encode only, qrcode (2 segments):  median {median_ms(lambda: qrcode_segments(numeric), max(10, args.rounds // 10)):.2f} ms"
    )
    page = sample.printable(numeric, "38206000000001", date(2026, 11, 27), True, 5)
    print(
        f"render printable page, PNG:           median {median_ms(lambda: render_png(page), max(10, args.rounds // 5)):.1f} ms"
    )
    print(
        f"render printable page, PDF:           median {median_ms(lambda: render_pdf(page), max(10, args.rounds // 5)):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
