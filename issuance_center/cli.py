"""`kiosk-sim center serve`: the certificate issuance center on its two mutual-TLS links."""

from __future__ import annotations

import argparse
from pathlib import Path

from serving import add_home_option


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    center = sub.add_parser("center", help="the certificate issuance center")
    cmds = center.add_subparsers(dest="center_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("serve", help="serve the center (kiosk CA in, LGWAN CA out)")
    add_home_option(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8444)
    p.add_argument("--vrs", default="https://127.0.0.1:8443", help="VRS base URL")
    # 8: at 20 kiosks, 32 threads cost 0.2-0.4 ms more CPU per issuance (GIL hand-offs
    # between runnable threads) for no more throughput on 2 CPUs (docs/load.md)
    p.add_argument(
        "--threads", type=int, default=8, help="worker threads (requests served at once)"
    )
    p.add_argument(
        "--vrs-connections",
        type=int,
        default=None,
        help="keep-alive connections to VRS (default: --threads, as no more are ever in use)",
    )
    from serving.logs import add_log_options

    add_log_options(p)
    p.set_defaults(func=cmd_serve)
    r = cmds.add_parser(
        "revoke-kiosk",
        help="revoke a kiosk's certificate in the kiosk CA's CRL (a running center refuses it "
        "from its next connection)",
    )
    r.add_argument("kiosk_id", nargs="?", help="a kiosk of this instance (its dev certificate)")
    r.add_argument("--cert", type=Path, help="or any certificate file the kiosk CA issued")
    add_home_option(r)
    r.set_defaults(func=cmd_revoke_kiosk)


def cmd_serve(args: argparse.Namespace) -> int:
    from card_reader.softcard import DevCardIssuer
    from serving import (
        CrlContext,
        DevCa,
        Server,
        raise_open_files_limit,
        serve_until_stopped,
        setup_logging,
    )
    from serving import home as default_home

    from . import create_app
    from .kiosks import Kiosk, KioskRegistry

    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    home = args.home or default_home()
    kiosk_ca = DevCa.KIOSK.open(home)
    lgwan = DevCa.LGWAN.open(home)
    server_cert, server_key = kiosk_ca.issue("center-server", "center.localhost", server=True)
    client_cert, client_key = lgwan.issue("center-client", "issuance-center")
    registry = home / "center" / "kiosks.json"
    if not registry.exists():
        registry.parent.mkdir(parents=True, exist_ok=True)
        KioskRegistry.write(registry, [Kiosk("K0001", "Demo store, Niihama", True)])
    trust = DevCardIssuer.trust_store_path(home)
    if not trust.exists():
        DevCardIssuer.of_instance(home)
    crl = kiosk_ca.publish_crl()  # signed afresh at each start: a CRL past its date refuses all
    app = create_app(
        {
            "TRUST_STORE": trust,
            "KIOSKS": registry,
            "KIOSK_CRL": crl,
            "KIOSK_CA": kiosk_ca.cert_path,
            "VRS_URL": args.vrs,
            "VRS_CLIENT_CERT": client_cert,
            "VRS_CLIENT_KEY": client_key,
            "VRS_CA": lgwan.cert_path,
            "VRS_CONNECTIONS": args.vrs_connections or args.threads,
        }
    )
    ctx = CrlContext(server_cert, server_key, kiosk_ca.cert_path, crl)
    raise_open_files_limit()
    server = Server(app, args.host, args.port, ctx, name="center", threads=args.threads).start()
    print(
        f"center listening on https://{args.host}:{server.port} (kiosks need a kiosk CA certificate)",
        flush=True,
    )
    serve_until_stopped(server)
    return 0


def cmd_revoke_kiosk(args: argparse.Namespace) -> int:
    from serving import DevCa, home

    kiosk_ca = DevCa.KIOSK.open(args.home or home())
    if (args.cert is None) == (args.kiosk_id is None):
        print("name a kiosk ID or --cert FILE (one of them)")
        return 2
    # the dev certificate `kiosk-sim kiosk serve` made for that kiosk ID
    cert = args.cert or kiosk_ca.dir / f"kiosk-{args.kiosk_id}.crt"
    if not cert.exists():
        print(f"no such certificate: {cert}")
        return 1
    try:
        serial = kiosk_ca.revoke(cert)
    except ValueError as exc:
        print(f"{cert}: {exc}")
        return 1
    print(f"revoked serial {serial:x}; CRL: {kiosk_ca.crl_path}")
    if args.kiosk_id:
        print(f"to give the kiosk a new certificate, delete {cert.with_suffix('.*')}")
    return 0
