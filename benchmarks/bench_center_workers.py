"""The center as 1, 2 and 4 workers at 20 and 80 simulated kiosks, VRS on PostgreSQL.

    .venv/bin/python benchmarks/bench_center_workers.py [--workers 1,2,4] [--kiosks 20,80]
        [--seconds 20] [--docs docs]

Each point is one ``load.py`` run on fresh servers (``run_point``): VRS on a throw-away
PostgreSQL cluster of the run's own, ``center serve --workers N`` (one port, sessions in a
Redis of their own; one worker: in-process sessions, the default deployment), kiosks in
processes of their own, back to back. CPU per issuance is counted per system from /proc:
the center (supervisor, workers and Redis), VRS, PostgreSQL (the backends VRS's pool holds)
and the kiosks. Writes ``center-workers.json``, ``.md`` and ``.png`` under ``--docs``.

On a machine of 2 CPUs that the kiosks share with the servers, more workers cannot add
CPUs: what this shows is what the workers cost (CPU per issuance) and that throughput and
latency hold, not a speed-up. On more cores, or the workers on machines of their own
(docs/runbook.md), each worker adds its share.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import load

ROOT = Path(__file__).resolve().parents[1]


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    pts = result["points"]
    kiosks = sorted({p["kiosks"] for p in pts})
    workers = sorted({p["center_workers"] for p in pts})
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for k, style in zip(kiosks, ("o-", "s--", "^:"), strict=False):
        row = sorted((p for p in pts if p["kiosks"] == k), key=lambda p: p["center_workers"])
        x = [p["center_workers"] for p in row]
        axes[0].plot(x, [p["per_second"] for p in row], style, label=f"{k} kiosks")
        axes[1].plot(x, [p["p99_ms"] for p in row], style, label=f"{k} kiosks")
        per = [p["cpu_ms_per_issuance"] for p in row]
        axes[2].plot(x, [c["center"] for c in per], style, color="tab:green", label=f"center, {k}")
        axes[2].plot(
            x,
            [c["center"] + c["vrs"] + c.get("database", 0.0) for c in per],
            style,
            color="tab:purple",
            label=f"center+VRS+PostgreSQL, {k}",
        )
    titles = ("issuances/s", "p99 latency, session → certificate (ms)", "CPU per issuance (ms)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("center workers")
        ax.set_xticks(workers)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"kiosk-sim center workers, VRS on PostgreSQL, all on {result['machine']['cpus']} CPUs"
        f" — {result['commit'][:10]}, {result['when']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# The center as N workers (VRS on PostgreSQL)",
        "",
        f"`benchmarks/bench_center_workers.py` at {result['commit'][:10]}, {result['when']};"
        f" {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), servers, PostgreSQL"
        f" and kiosks on the same CPUs, a {result['seconds']:g} s window per point after"
        f" {result['warmup']:g} s of warm-up. The machine is shared: 'others' is what else ran.",
        "",
        "| kiosks | workers | issuances/s | p50 ms | p99 ms | failed | CPU/issuance center"
        " | VRS | PostgreSQL | kiosks | others (CPUs) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["points"]:
        c, u = p["cpu_ms_per_issuance"], p["cpu_utilisation"]
        lines.append(
            f"| {p['kiosks']} | {p['center_workers']} | {p['per_second']:g} | {p['p50_ms']:g}"
            f" | {p['p99_ms']:g} | {p['failed']} | {c['center']:.2f} | {c['vrs']:.2f}"
            f" | {c.get('database', 0.0):.2f} | {c['kiosks']:.2f} | {u['others']:.2f} |"
        )
    lines += ["", "![throughput, latency and CPU per issuance](center-workers.png)", ""]
    return "\n".join(lines)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` stops the servers
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--kiosks", default="20,80")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--residents", type=int, default=200)
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    try:
        workers = [int(w) for w in args.workers.split(",")]
        kiosks = [int(k) for k in args.kiosks.split(",")]
    except ValueError:
        ap.error("--workers and --kiosks take whole numbers, e.g. 1,2,4")
    if min(workers + kiosks) < 1 or args.seconds <= 0:
        ap.error("workers and kiosks ≥ 1, --seconds > 0")
    points = []
    for k in kiosks:
        for w in workers:
            print(f"--- {k} kiosks, {w} center worker(s)", flush=True)
            run = argparse.Namespace(
                seconds=args.seconds,
                warmup=args.warmup,
                residents=args.residents,
                center_workers=w,
                database="postgresql",
                processes=0,
                idle_issuances=0,
            )
            point = load.run_point(run, k)
            load.print_point(point)
            points.append({key: v for key, v in point.items() if key != "idle"})
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        **load.commit(),
        "machine": load.machine(),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "points": points,
    }
    args.docs.mkdir(parents=True, exist_ok=True)
    (args.docs / "center-workers.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.docs / "center-workers.png")
    (args.docs / "center-workers.md").write_text(markdown(result))
    print(f"wrote {args.docs / 'center-workers.json'}, center-workers.png, center-workers.md")
    bad = any(p["failed"] or p["personal_data_found"] or not p["issued"] for p in points)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
