"""`kiosk-sim card …`: readers, probe, read, conformance and emulate, for hardware testers and QA."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from . import files, mynumber
from .client import CardFiles, TextApplication, pin_is_well_formed
from .errors import CardError, ErrorCode, PinError, TraceError, tries_left_text
from .pcsc import PcscTransport, list_readers
from .trace import add_trace_option, trace_transport
from .transport import Transport
from .trust import TrustStore
from .verify import verify_card

if TYPE_CHECKING:
    from .softcard import CardOS, SoftCard

VPCD_PORT = 0x8C7B  # Debian's /etc/reader.conf.d/vpcd: slot 0; slot 1 is the next port
EXIT_OK, EXIT_FAIL, EXIT_UNUSABLE, EXIT_UNVERIFIED = 0, 1, 2, 4
EXIT_USAGE = EXIT_UNUSABLE  # a trace or replay file that cannot be used


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    card = sub.add_parser("card", help="My Number Card: readers, probe, read, emulate")
    cmds = card.add_subparsers(dest="card_command", required=True, metavar="COMMAND")

    p = cmds.add_parser("readers", help="list PC/SC readers and the ATR of each card")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_readers)

    for name, func, text in (
        (
            "probe",
            cmd_probe,
            "is it a My Number Card, and how many PIN tries are left (spends none)",
        ),
        ("read", cmd_read, "verify the PIN, read the 4 facts and check their signature"),
    ):
        p = cmds.add_parser(name, help=text, description=text)
        p.add_argument("--reader", help="reader name or part of it (default: first with a card)")
        p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a card")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--instance", type=Path, default=None)
        add_trace_option(p)
        p.set_defaults(func=func)
        if name == "read":
            p.add_argument("--last-try", action="store_true", help="allow using the last PIN try")
            p.add_argument("--show-number", action="store_true", help="print the full My Number")
            p.add_argument("--trust", type=Path, help="trust store (default: the instance's)")

    text = "how the card in the reader differs from the software card (spends no PIN try)"
    p = cmds.add_parser("conformance", help=text, description=text)
    p.add_argument("--reader", help="reader name or part of it (default: first with a card)")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a card")
    p.add_argument(
        "--pin-tries",
        type=_tries,
        default=0,
        metavar="N",
        help="PIN tries the probe may spend (asks the PIN; never the last try); default 0",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_conformance)

    p = cmds.add_parser("emulate", help="insert the software card into pcscd's vpcd reader")
    p.add_argument("--profile", type=Path, help="holder profile JSON (default: the demo holder)")
    p.add_argument("--state", type=Path, help="card state file (default: in the instance)")
    p.add_argument("--instance", type=Path, default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--slot", type=int, default=0, choices=(0, 1), help="Virtual PCD slot")
    p.add_argument(
        "--quirks",
        type=_quirks,
        default=(),
        metavar="NAME[,NAME]",
        help="make the card differ on purpose (card_reader/softcard/quirks.py): "
        "select-fci, read-past-end-6282, reselect-drops-pin, wrong-cla-6d00",
    )
    p.add_argument(
        "--control",
        type=Path,
        default=None,
        metavar="SOCKET",
        help="stay up and insert, remove and switch cards on commands at this Unix socket "
        "(card_reader/softcard/slot.py); --profile is then the card inserted first, if any",
    )
    p.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="TRACE",
        help="answer as the card of this APDU trace did (--trace of probe, read, kiosk serve); "
        "the software card answers what the trace does not know, and every VERIFY",
    )
    p.add_argument(
        "--replay-timing", action="store_true", help="with --replay: answer as slowly as traced"
    )
    from serving.logs import add_log_options

    add_log_options(p)
    p.set_defaults(func=cmd_emulate)


def _tries(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of tries (0, 1, 2 …)")
    return int(text)


def _quirks(text: str) -> tuple[str, ...]:
    from .softcard.quirks import QuirkError, parse_quirks

    try:
        return parse_quirks(text)
    except QuirkError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _out(args: argparse.Namespace, data: Mapping[str, object], lines: list[str]) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else "\n".join(lines))


def _fail(
    args: argparse.Namespace, exc: CardError, extra: Mapping[str, object] | None = None
) -> int:
    data = {"ok": False, "error": exc.code.value, "message": exc.message, **(extra or {})}
    if isinstance(exc, PinError) and exc.tries_left is not None:
        data["tries_left"] = exc.tries_left
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"error: {exc.message}", file=sys.stderr)
    return EXIT_USAGE if exc.code is ErrorCode.BAD_TRACE else EXIT_FAIL


def cmd_readers(args: argparse.Namespace) -> int:
    try:
        readers = list_readers()
    except CardError as exc:
        return _fail(args, exc)
    data = {
        "readers": [
            {
                "name": r.name,
                "atr": r.atr.hex(" ") if r.atr else None,
                "device": r.device,
                "slot": r.slot,
            }
            for r in readers
        ]
    }
    lines = []
    for r in readers:
        line = f"{r.name}: {r.atr.hex(' ').upper() if r.atr else '(no card)'}"
        twin = next(
            (o for o in readers if o.device == r.device and o.slot < r.slot and o.atr), None
        )
        if twin is not None and twin.atr == r.atr:
            # pcscd cannot tell one card on both interfaces of a reader from two cards alike
            line += f"  (same ATR as slot {twin.slot}: one card seen twice, or two alike)"
        lines.append(line)
    _out(args, data, lines or ["no readers"])
    return EXIT_OK


def _connect(args: argparse.Namespace) -> Transport:
    """The card in ``args.reader``, traced with ``--trace`` (the file opened first)."""
    return trace_transport(args, lambda: PcscTransport(args.reader, wait=args.wait))


def cmd_probe(args: argparse.Namespace) -> int:
    try:
        with _connect(args) as transport:
            app = TextApplication(transport)
            base = {
                "reader": getattr(transport, "reader", None),
                "atr": transport.atr.hex(" "),
                "protocol": transport.protocol,
            }
            try:
                app.select()
            except CardError as exc:
                if exc.code is ErrorCode.NOT_MYNUMBER_CARD:
                    _out(
                        args,
                        {**base, "mynumber_card": False},
                        [
                            f"reader: {base['reader']}",
                            f"ATR:    {transport.atr.hex(' ').upper()}",
                            "not a My Number Card",
                        ],
                    )
                    return EXIT_FAIL
                raise
            tries = app.pin_tries_left()
    except CardError as exc:
        return _fail(args, exc)
    _out(
        args,
        {**base, "mynumber_card": True, "pin_tries_left": tries},
        [
            f"reader: {base['reader']}",
            f"ATR:    {transport.atr.hex(' ').upper()} ({transport.protocol})",
            "My Number Card: yes (card-info input support application found)",
            f"PIN tries left: {tries}"
            + ("  (locked: reset at the municipal window)" if tries == 0 else ""),
        ],
    )
    return EXIT_OK


def _ask_pin(tries: int) -> str:
    """Asks until the PIN is well formed: a malformed one is never sent."""
    for _ in range(5):
        if sys.stdin.isatty():
            pin = getpass.getpass(f"PIN (4 digits, {tries_left_text(tries)}): ")
        else:
            pin = sys.stdin.readline().strip()
        if pin_is_well_formed(pin):
            return pin
        print("the PIN is exactly 4 digits; nothing was sent to the card", file=sys.stderr)
        if not sys.stdin.isatty():
            break
    raise PinError(ErrorCode.INVALID_PIN_FORMAT, "no well-formed PIN given; nothing was sent")


def _trust_store(args: argparse.Namespace) -> TrustStore | None:
    from serving import home

    from .softcard import DevCardIssuer

    path = args.trust or DevCardIssuer.trust_store_path(args.instance or home())
    return TrustStore.load(path) if path.exists() else None


def read_with_pin(
    reader: str | None,
    *,
    wait: float = 0.0,
    last_try: bool = False,
    quiet: bool = False,
    challenge: bytes | None = None,
    connect: Callable[[], Transport] | None = None,
) -> CardFiles:
    """The card's files after the PIN asked on the terminal (stdin when it is not one):
    the tries left shown first (on stderr, unless ``quiet``), a locked PIN refused, the
    last try used only with ``last_try``. Every failure is a CardError."""
    with (connect or (lambda: PcscTransport(reader, wait=wait)))() as transport:
        app = TextApplication(transport)
        app.select()
        tries = app.pin_tries_left()
        if not quiet:
            print(f"PIN tries left: {tries}", file=sys.stderr)
        if tries == 0:
            raise PinError(
                ErrorCode.PIN_BLOCKED,
                "the PIN is locked; it can be reset only at the municipal window",
                0,
            )
        if tries == 1 and not last_try:
            raise PinError(
                ErrorCode.LAST_TRY,
                "only one PIN try is left: nothing was sent (use --last-try to use it)",
                1,
            )
        app.verify_pin(_ask_pin(tries))
        return app.read_card_files(challenge)


def cmd_read(args: argparse.Namespace) -> int:
    challenge = secrets.token_bytes(32)
    try:
        card = read_with_pin(
            args.reader,
            wait=args.wait,
            last_try=args.last_try,
            quiet=args.json,
            challenge=challenge,
            connect=lambda: _connect(args),  # traced with --trace
        )
    except CardError as exc:
        return _fail(args, exc)

    number = files.parse_my_number(card.ef0001)
    info = files.parse_basic_info(card.ef0002)
    trust = _trust_store(args)
    if trust is None:
        verdict, ok = "not checked: no trust store (card issuer CA keys) found", False
    else:
        try:
            verify_card(card, trust, expected_challenge=challenge)
            verdict, ok = "valid (issuer signature, card certificate and card presence)", True
        except CardError as exc:
            verdict, ok = f"INVALID: {exc.message}", False
    shown = number if args.show_number else mynumber.mask(number)
    data = {
        "ok": ok,
        "my_number": shown,
        "name": info.name,
        "address": info.address,
        "birth_date": info.birth_date.isoformat(),
        "sex": files.SEX[info.sex],
        "integrity": verdict,
    }
    _out(
        args,
        data,
        [
            f"My Number:  {shown}",
            f"name:       {info.name}",
            f"address:    {info.address}",
            f"birth date: {info.birth_date.isoformat()}",
            f"sex:        {files.SEX[info.sex]}",
            f"integrity:  {verdict}",
        ],
    )
    return EXIT_OK if ok else EXIT_UNVERIFIED


def cmd_conformance(args: argparse.Namespace) -> int:
    from .conformance import dumps, run_conformance

    try:
        with PcscTransport(args.reader, wait=args.wait) as transport:
            report = run_conformance(
                transport, reader=transport.reader, pin_tries=args.pin_tries, ask_pin=_ask_pin
            )
    except CardError as exc:  # no reader, no card, the card pulled mid-probe
        print(f"error: {exc.message}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "error": exc.code.value, "message": exc.message}))
        return EXIT_UNUSABLE
    print(dumps(report) if args.json else report.to_markdown())
    return report.exit_code


def cmd_emulate(args: argparse.Namespace) -> int:
    from serving import home, setup_logging

    from .softcard import Profile, run_emulator  # the software card is only needed here

    wrap = None
    if args.replay is not None or args.replay_timing:
        try:
            wrap = _replay(args)
        except TraceError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return EXIT_USAGE
    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    instance = args.instance or home()
    state = args.state or instance / "cards" / (
        "demo-state.json" if args.profile is None else f"{args.profile.stem}-state.json"
    )
    if args.control is not None:
        if args.quirks:
            print("error: --quirks is not offered with --control", file=sys.stderr)
            return EXIT_FAIL
        return _emulate_controlled(args, instance, state)
    quirks = f" with quirks {','.join(args.quirks)}" if args.quirks else ""

    def ready(profile: Profile) -> None:
        if args.profile is None:
            print(f"software card inserted{quirks} (demo holder, PIN {profile.pin})", flush=True)
        else:
            print(f"software card inserted{quirks}", flush=True)

    # Ctrl-C or SIGTERM takes the card out cleanly (closes the vpcd link)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        run_emulator(
            args.profile,
            state,
            instance,
            args.host,
            VPCD_PORT + args.slot,
            stop,
            on_ready=ready,
            quirks=args.quirks,
            wrap=wrap,
        )
    print("software card removed", flush=True)
    return EXIT_OK


def _replay(args: argparse.Namespace) -> Callable[[SoftCard], CardOS]:
    """``--replay``: the trace, loaded and checked before the card goes in."""
    from .softcard import ReplayCard
    from .trace import read_trace

    if args.replay is None:
        raise TraceError("--replay-timing needs --replay TRACE")
    if args.control is not None:
        raise TraceError("--replay is for one card; it does not go with --control")
    trace = read_trace(args.replay)
    return lambda card: ReplayCard(card, trace, timing=args.replay_timing)


def _emulate_controlled(args: argparse.Namespace, instance: Path, state: Path) -> int:
    """One long-lived card process: cards go in and out on commands at ``args.control``."""
    from .pcsc import wait_for_card_state
    from .softcard import DevCardIssuer
    from .softcard.slot import CardShelf, CardSlot, ControlServer

    reader = f"Virtual PCD 00 {args.slot:02d}"  # Debian's vpcd names its slots so

    def seen_gone() -> None:
        # a card switched for another must be seen leaving, or pcscd would take the
        # next one for the same card still in (they share the ATR)
        with contextlib.suppress(CardError):
            wait_for_card_state(reader, False, 2.0)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    shelf = CardShelf(DevCardIssuer.of_instance(instance))
    slot = CardSlot(args.host, VPCD_PORT + args.slot, on_removed=seen_gone)
    if args.profile is not None:
        slot.insert(shelf.card(args.profile, state), args.profile.stem)
        print("software card inserted", flush=True)
    server = ControlServer(args.control, slot, shelf)
    threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True).start()
    print(f"software card control listening on {args.control}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    slot.remove()
    print("software card removed", flush=True)
    return EXIT_OK
