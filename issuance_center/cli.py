"""`kiosk-sim center serve`: the certificate issuance center on its two mutual-TLS links."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def default_home() -> Path:
    from kiosk_sim import home

    return home()


def register(sub: argparse._SubParsersAction) -> None:
    center = sub.add_parser("center", help="the certificate issuance center")
    cmds = center.add_subparsers(dest="center_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("serve", help="serve the center (kiosk CA in, LGWAN CA out)")
    p.add_argument(
        "--home", type=Path, default=None, help="instance folder (default $KIOSK_SIM_HOME)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8444)
    p.add_argument("--vrs", default="https://127.0.0.1:8443", help="VRS base URL")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from kiosk_sim.tls import CA, mutual_tls_context, serve_until_stopped, start

    from . import create_app
    from .kiosks import Kiosk, KioskRegistry

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    home = args.home or default_home()
    kiosk_ca = CA(home / "pki" / "kiosk", "Kiosk CA (development)")
    lgwan = CA(home / "pki" / "lgwan", "LGWAN CA (development)")
    server_cert, server_key = kiosk_ca.issue("center-server", "center.localhost", server=True)
    client_cert, client_key = lgwan.issue("center-client", "issuance-center")
    registry = home / "center" / "kiosks.json"
    if not registry.exists():
        registry.parent.mkdir(parents=True, exist_ok=True)
        KioskRegistry.write(registry, [Kiosk("K0001", "Demo store, Niihama", True)])
    trust = home / "card-issuer" / "trust-store.json"
    if not trust.exists():
        from card_reader.softcard import DevCardIssuer

        DevCardIssuer.load_or_create(home / "card-issuer")
    app = create_app(
        {
            "TRUST_STORE": trust,
            "KIOSKS": registry,
            "VRS_URL": args.vrs,
            "VRS_CLIENT_CERT": client_cert,
            "VRS_CLIENT_KEY": client_key,
            "VRS_CA": lgwan.cert_path,
        }
    )
    ctx = mutual_tls_context(server_cert, server_key, kiosk_ca.cert_path)
    server, _thread = start(app, args.host, args.port, ctx, "center")
    print(
        f"center listening on https://{args.host}:{server.port} (kiosks need a kiosk CA certificate)",
        flush=True,
    )
    serve_until_stopped(server)
    return 0
