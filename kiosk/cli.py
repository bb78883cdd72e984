"""`kiosk-sim kiosk serve`: the kiosk's screen on loopback, the reader, the printer."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from serving import add_home_option

if TYPE_CHECKING:
    from card_reader import Transport
    from card_reader.trace import TraceWriter


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kiosk = sub.add_parser("kiosk", help="the kiosk terminal (multi-copy machine)")
    cmds = kiosk.add_subparsers(dest="kiosk_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("serve", help="serve the touch screen on 127.0.0.1")
    add_home_option(p)
    p.add_argument("--reader", default="Virtual PCD 00 00", help="PC/SC reader name")
    p.add_argument("--center", default="https://127.0.0.1:8444", help="center base URL")
    p.add_argument("--kiosk-id", default="K0001")
    p.add_argument(
        "--cert", type=Path, help="kiosk client certificate (default: the dev kiosk CA's)"
    )
    p.add_argument("--key", type=Path)
    p.add_argument("--ca", type=Path, help="CA that certifies the center")
    p.add_argument("--printer", choices=("sim", "cups"), default="sim")
    p.add_argument("--cups-destination", default=None)
    p.add_argument(
        "--print-dir", type=Path, default=None, help="the simulated printer writes PDFs here"
    )
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--idle-timeout", type=float, default=60.0, help="seconds without input before a cancel"
    )
    p.add_argument(
        "--center-timeout",
        type=float,
        default=15.0,
        help="seconds to wait for the center's answer before telling the resident it failed",
    )
    p.add_argument(
        "--take-timeout",
        type=float,
        default=180.0,
        help="seconds the card/certificate reminders repeat before the kiosk wipes anyway",
    )
    from card_reader.trace import add_trace_option
    from serving.logs import add_log_options

    add_trace_option(p)
    add_log_options(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from card_reader import CardError
    from card_reader.trace import open_trace
    from serving import DevCa, Server, home, serve_until_stopped, setup_logging

    from . import create_app, runtime

    try:
        # a trace that cannot be written stops the kiosk before it starts
        writer = open_trace(args)
    except CardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    # werkzeug's request log would write URLs only, but the kiosk keeps its log to screens (set
    # here, for the kiosk's own process: in create_app it silenced every server of a test run)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    instance = args.home or home()
    cert, key, ca = args.cert, args.key, args.ca
    if cert is None or key is None or ca is None:
        kiosk_ca = DevCa.KIOSK.open(instance)
        cert, key = kiosk_ca.issue(f"kiosk-{args.kiosk_id}", args.kiosk_id)
        ca = kiosk_ca.cert_path
    app = create_app(
        {
            "CENTER_URL": args.center,
            "CERT": cert,
            "KEY": key,
            "CA": ca,
            "READER": args.reader,
            "PRINTER": args.printer,
            "PRINT_DIR": args.print_dir,
            "CUPS_DESTINATION": args.cups_destination,
            "IDLE_TIMEOUT": args.idle_timeout,
            "TAKE_TIMEOUT": args.take_timeout,
            "CENTER_TIMEOUT": args.center_timeout,
            "CONNECT": None if writer is None else traced_connect(writer),
        }
    )
    threads = runtime(app).start()  # the card watcher, the closer, the canceller
    try:
        # loopback only: the screen is for the kiosk's own browser
        server = Server(app, "127.0.0.1", args.port, None, name="kiosk", threads=8).start()
        print(f"kiosk listening on http://127.0.0.1:{server.port}/", flush=True)
        serve_until_stopped(server)
    finally:
        threads.stop()
        if writer is not None:
            writer.close()
    return 0


def traced_connect(
    writer: TraceWriter, connect: Callable[[str], Transport] | None = None
) -> Callable[[str], Transport]:
    """``--trace``: every card placed is opened (``connect``, default PC/SC) through a
    tracing transport, all into one file."""
    from card_reader.trace import TracingTransport

    from .flow import open_pcsc

    opener = connect or open_pcsc
    return lambda reader: TracingTransport(opener(reader), writer)
