"""`kiosk-sim vrs enroll-from-card`: a demo record for the holder of a card in a reader.

For hardware testers: the holder of a real (or software) My Number Card gets a local demo
record with synthetic doses in the municipality they choose, so that the kiosk can issue
them a certificate. It reads the card with ``card read``'s PIN rules and makes the record
as the demo data does, through VRS's own import; here, not in VRS, because VRS never reads
a card (the arrows: the command line imports the systems, no system another).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from card_reader import CardError, parse_basic_info, parse_my_number
from card_reader.mynumber import mask
from vrs.cli import CliError, fail, open_area
from vrs.errors import VrsError

MAX_DOSES = 5  # the demo data's schedule (vrs.demo.SCHEDULE)


def register(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser(
        "enroll-from-card",
        help="read a card (PIN) and give its holder a demo record with synthetic doses",
        description="Read the My Number Card in READER (the PIN is asked on the terminal, "
        "as by `card read`) and create a demo record for its holder in MUNICIPALITY's area, "
        "with synthetic doses, sealed like every record. `kiosk-sim vrs erase` removes it.",
    )
    p.add_argument("--reader", required=True, help="reader name or part of it (`card readers`)")
    p.add_argument("--municipality", required=True, help="6-digit local government code")
    p.add_argument("--instance", type=Path, default=None, help="VRS instance folder")
    p.add_argument("--database", default=None, metavar="URL", help="as for the other vrs commands")
    p.add_argument("--doses", type=_doses, default=3, help=f"0 to {MAX_DOSES} (default 3)")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a card")
    p.add_argument("--last-try", action="store_true", help="allow using the last PIN try")
    p.add_argument("--json", action="store_true", help="errors and results as JSON on stdout")
    p.set_defaults(func=cmd_enroll)


def _doses(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_DOSES:
        raise argparse.ArgumentTypeError(f"a whole number from 0 to {MAX_DOSES}")
    return int(text)


def _card_error(exc: CardError) -> CliError:
    # a wrong PIN's message says the tries left
    return CliError(exc.code.value, exc.message)


def cmd_enroll(args: argparse.Namespace) -> int:
    from card_reader.cli import read_with_pin
    from vrs import demo

    try:
        # the instance and the municipality first: a wrong code spends no PIN try
        area = open_area(args)
        try:
            card = read_with_pin(
                args.reader, wait=args.wait, last_try=args.last_try, quiet=args.json
            )
            number = parse_my_number(card.ef0001)
            info = parse_basic_info(card.ef0002)
        except CardError as exc:
            raise _card_error(exc) from None
        if area.find(number) is not None:
            raise CliError(
                "already_enrolled",
                f"this card's holder already has a record in municipality {area.code}; "
                f"`kiosk-sim vrs erase {area.code}` removes it",
            )
        resident = demo.holder(area.code, number, info.name, info.birth_date, info.sex, args.doses)
        demo.enroll(area, resident, actor="cli")
    except VrsError as exc:
        return fail(args, CliError.of(exc))
    except CliError as exc:
        return fail(args, exc)
    m = area.municipality
    data = {"enrolled": mask(number), "municipality": m.code, "doses": args.doses}
    words = [
        f"enrolled {mask(number)} in {m.code} ({m.name_en}) with {args.doses} synthetic doses",
    ]
    if not m.offers_convenience_store:
        words.append("note: this municipality does not offer convenience-store issuance")
    if args.json:
        import json

        print(json.dumps(data, ensure_ascii=False))
    else:
        print("\n".join(words))
    return 0
