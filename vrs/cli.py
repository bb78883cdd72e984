"""`kiosk-sim vrs …`: demo data, the server, staff IDs, CSV import and export."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from .errors import VrsError


def default_instance() -> Path:
    from kiosk_sim import home

    return home() / "vrs"


def register(sub: argparse._SubParsersAction) -> None:
    vrs = sub.add_parser("vrs", help="the vaccination record system")
    cmds = vrs.add_subparsers(dest="vrs_command", required=True, metavar="COMMAND")

    p = cmds.add_parser(
        "demo-data", help="create a reproducible synthetic data set and card profiles"
    )
    p.add_argument("--residents", type=int, default=40)
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--instance", type=Path, default=None, help="VRS instance folder")
    p.add_argument(
        "--out", type=Path, default=None, help="where card profiles go (default: INSTANCE/demo)"
    )
    p.set_defaults(func=cmd_demo_data)

    p = cmds.add_parser("serve", help="serve VRS over mutual TLS (LGWAN CA)")
    p.add_argument("--instance", type=Path, default=None)
    p.add_argument(
        "--pki",
        type=Path,
        default=None,
        help="folder of the LGWAN CA (default: INSTANCE/../pki/lgwan)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--threads", type=int, default=16, help="worker threads of the LGWAN listener")
    p.add_argument("--iss", default=None, help="SHC issuer URL (default https://HOST:PORT/issuer)")
    p.add_argument(
        "--site-port",
        type=int,
        default=8445,
        help="the internet-facing vaccination-site listener (tablets, coupon numbers only); -1: none",
    )
    p.add_argument("--site-host", default=None, help="its address (default: --host)")
    p.add_argument(
        "--site-pki",
        type=Path,
        default=None,
        help="folder of the vaccination-site CA for tablets (default: INSTANCE/../pki/site)",
    )
    from serving.logs import add_log_options

    add_log_options(p)
    p.set_defaults(func=cmd_serve)

    p = cmds.add_parser("create-admin", help="issue the first administrator ID of a municipality")
    p.add_argument("municipality")
    p.add_argument("user_id")
    p.add_argument("--instance", type=Path, default=None)
    p.set_defaults(func=cmd_create_admin)

    p = cmds.add_parser(
        "csca", help="print the CSCA certificates of the ICAO VDS-NC seal (PEM), for verifiers"
    )
    p.add_argument("--instance", type=Path, default=None, help="VRS instance folder")
    p.set_defaults(func=cmd_csca)

    for name, text in (
        ("import", "import a ledger CSV into a municipality's area"),
        ("export", "export a municipality's records as CSV, without My Number"),
    ):
        p = cmds.add_parser(name, help=text)
        p.add_argument("municipality")
        p.add_argument("file", type=Path)
        p.add_argument("--instance", type=Path, default=None)
        p.set_defaults(func=cmd_import if name == "import" else cmd_export)


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from . import open_vrs

    return open_vrs(args.instance or default_instance())


def cmd_csca(args: argparse.Namespace) -> int:
    from certs import vds_pki

    # made at first run, as serving VRS would make it
    signer = vds_pki.load_or_create((args.instance or default_instance()) / "vds-pki")
    sys.stdout.write(signer.csca_pem().decode("ascii"))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from . import demo

    instance = args.instance or default_instance()
    if (instance / "vrs.sqlite3").exists():
        print(
            f"error: {instance / 'vrs.sqlite3'} exists; demo data goes into a new instance",
            file=sys.stderr,
        )
        return 1
    vrs = _open(argparse.Namespace(instance=instance))
    for m in demo.MUNICIPALITIES:
        vrs.add_municipality(m)
    out = args.out or instance / "demo"
    ledgers = demo.write_csv(demo.residents(args.residents, args.seed), out / "ledgers", args.seed)
    total = 0
    for code, path in ledgers.items():
        with path.open(encoding="utf-8", newline="") as f:
            total += vrs.area(code).import_csv(f)
        vrs.log("demo-data", code, "records.import", "demo ledger")
        path.unlink()  # the ledger held plaintext: only the encrypted database keeps the records
    (out / "ledgers").rmdir()
    cards = demo.write_profiles(demo.residents(args.residents, args.seed), out, args.residents)
    print(
        f"VRS demo data: {total} residents in {len(demo.MUNICIPALITIES)} municipalities ({instance})"
    )
    print(f"software-card profiles: {cards}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from serving import (
        CA,
        Server,
        mutual_tls_context,
        raise_open_files_limit,
        serve_until_stopped,
        setup_logging,
    )

    from . import create_app

    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    instance = args.instance or default_instance()
    lgwan = CA(args.pki or instance.parent / "pki" / "lgwan", "LGWAN CA (development)")
    cert, key = lgwan.issue("vrs-server", "vrs.localhost", server=True)
    lgwan.issue("center-client", "issuance-center")
    iss = args.iss or f"https://{args.host}:{args.port}/issuer"
    app = create_app({"INSTANCE": instance, "ISS": iss})
    raise_open_files_limit()
    ctx = mutual_tls_context(cert, key, lgwan.cert_path)
    servers = [Server(app, args.host, args.port, ctx, name="vrs", threads=args.threads).start()]
    if args.site_port >= 0:
        # M12: its own app, port and CA; the app gets a coupon desk, not the record system
        from .site import CouponDesk, create_site_app

        tablets = CA(
            args.site_pki or instance.parent / "pki" / "site", "Vaccination-site CA (development)"
        )
        site_cert, site_key = tablets.issue("vrs-site-server", "vrs-site.localhost", server=True)
        demo_tablet, _ = tablets.issue("tablet-demo", "tablet-demo")
        site_app = create_site_app({"DESK": CouponDesk.from_vrs(app.extensions["vrs"])})
        host = args.site_host or args.host
        site_ctx = mutual_tls_context(site_cert, site_key, tablets.cert_path)
        site = Server(site_app, host, args.site_port, site_ctx, name="vrs-site", threads=8)
        servers.append(site.start())
        print(
            f"VRS vaccination-site side on https://{host}:{site.port}"
            f" (tablets need a site CA certificate, e.g. {demo_tablet})",
            flush=True,
        )
    print(
        f"VRS listening on https://{args.host}:{servers[0].port}"
        " (clients need an LGWAN CA certificate)",
        flush=True,
    )
    serve_until_stopped(*servers)
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from .staff import StaffService

    vrs = _open(args)
    password = (
        getpass.getpass("password (12+ characters): ")
        if sys.stdin.isatty()
        else sys.stdin.readline().strip()
    )
    try:
        vrs.area(args.municipality)
        StaffService(vrs).create("cli", args.municipality, args.user_id, password, "administrator")
    except VrsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"administrator {args.user_id} issued for {args.municipality}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    try:
        vrs = _open(args)  # a full disk can refuse even the opening
        # the rows and their log entry in one short transaction at the end: VRS, serving from
        # the same database, goes on issuing while the file is read and sealed
        with args.file.open(encoding="utf-8", newline="") as f:
            n = vrs.area(args.municipality).import_csv(f, actor="cli")
    except VrsError as exc:
        print(json.dumps(exc.to_json(), ensure_ascii=False, indent=1), file=sys.stderr)
        return 1
    print(f"imported {n} persons")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    vrs = _open(args)
    with args.file.open("w", encoding="utf-8", newline="") as f:
        for chunk in vrs.area(args.municipality).export_csv():
            f.write(chunk)
    vrs.log("cli", args.municipality, "records.export")
    return 0
