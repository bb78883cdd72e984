"""`kiosk-sim vrs …`: demo data, the server, staff IDs, CSV import and export."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from pathlib import Path
from typing import NotRequired, TypedDict

from .areas import Area, Vrs
from .errors import VrsError
from .ledger_rows import EXPORT_COLUMNS
from .storage import DATABASE_ENV, database_of, is_postgres

IMPORT_HELP = """\
The file: CSV with a header row naming its columns (any order; missing optional
columns count as empty), UTF-8 (with or without BOM) or Shift_JIS (CP932).
One row per dose; a person's rows together; a person without doses is one row
with the dose columns empty.

  my_number        12 digits with a valid check digit (required)
  atena_number     宛名番号, the municipality's resident number
  ticket_number    接種券番号, the coupon number: 10 digits, or empty
  name             full name, family and given separated by a full-width space (required)
  birth_date       YYYY-MM-DD (required)
  sex              1 male, 2 female, 9 not applicable, 0 unknown (required)
  romanized_name   passport spelling, e.g. NIIHAMA HANAKO  } all three, or none:
  nationality      ISO 3166 alpha-3, e.g. JPN              } the overseas certificate
  passport_number  e.g. TZ1234567                          } needs them
  former_name      旧氏, or empty
  moved_out        1 if the person moved out (no certificate here), else empty
  deceased         1 if the person died, else empty
  dose_number      1 to 20 (empty: no dose on this row)
  dose_date        YYYY-MM-DD
  manufacturer     e.g. ファイザー
  vaccine_type     e.g. mRNA
  product          pfizer, moderna, astrazeneca, novavax, janssen or unspecified
  lot_number       the lot, not empty

Example (a made-up person):

  my_number,atena_number,ticket_number,name,birth_date,sex,romanized_name,nationality,passport_number,former_name,moved_out,deceased,dose_number,dose_date,manufacturer,vaccine_type,product,lot_number
  123456789018,000012345,0123456789,新居浜　花子,1980-04-01,2,NIIHAMA HANAKO,JPN,TZ1234567,,,,1,2021-06-01,ファイザー,mRNA,pfizer,FA1234
"""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Adds ``vrs`` and its commands; returns them, for the command line's own additions
    (``kiosk-sim vrs enroll-from-card`` reads a card, which VRS itself never does)."""
    vrs = sub.add_parser("vrs", help="the vaccination record system")
    cmds = vrs.add_subparsers(dest="vrs_command", required=True, metavar="COMMAND")

    p = cmds.add_parser(
        "demo-data", help="create a reproducible synthetic data set and card profiles"
    )
    p.add_argument("--residents", type=int, default=40)
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument("--instance", type=Path, default=None, help="VRS instance folder")
    _database_option(p)
    p.add_argument(
        "--out", type=Path, default=None, help="where card profiles go (default: INSTANCE/demo)"
    )
    p.set_defaults(func=cmd_demo_data)

    p = cmds.add_parser(
        "init",
        help="create an empty VRS instance (keys and database)",
        description="Create an empty VRS instance: master key, SHC issuer key and database. "
        "Every other command except demo-data refuses a folder that holds no instance.",
    )
    _common(p)
    p.set_defaults(func=cmd_init)

    p = cmds.add_parser("add-municipality", help="register a municipality (its own encrypted area)")
    p.add_argument("code", help="6-digit local government code with its check digit, e.g. 382051")
    p.add_argument("name_ja", help="e.g. 新居浜市")
    p.add_argument("name_en", help="e.g. 'Niihama City'")
    p.add_argument("--prefecture", required=True, help="e.g. 愛媛県")
    p.add_argument(
        "--no-convenience-store",
        action="store_true",
        help="it does not offer convenience-store issuance (kiosks refuse it)",
    )
    p.add_argument(
        "--mayor-ja", default=None, help="the issuer on the certificate (default NAME_JA長)"
    )
    p.add_argument("--mayor-en", default=None, help="(default 'Mayor of NAME_EN')")
    _common(p)
    p.set_defaults(func=cmd_add_municipality)

    p = cmds.add_parser("serve", help="serve VRS over mutual TLS (LGWAN CA)")
    p.add_argument("--instance", type=Path, default=None, help="VRS instance folder")
    _database_option(p)
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
    _common(p)
    p.set_defaults(func=cmd_create_admin)

    p = cmds.add_parser(
        "csca", help="print the CSCA certificates of the ICAO VDS-NC seal (PEM), for verifiers"
    )
    _common(p)
    p.set_defaults(func=cmd_csca)

    p = cmds.add_parser(
        "import",
        help="import a ledger CSV into a municipality's area",
        description="Import a municipality's vaccination ledger: all rows or none. A rejected "
        "file is reported by row number and reason, never by its contents.",
        epilog=IMPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("municipality", help="6-digit local government code, e.g. 382051")
    p.add_argument("file", type=Path, help="the ledger CSV")
    p.add_argument(
        "--encoding",
        default=None,
        help="utf-8 or cp932 (shift_jis); default: whichever of them decodes the whole file",
    )
    _common(p)
    p.set_defaults(func=cmd_import)

    p = cmds.add_parser(
        "export",
        help="export a municipality's records as CSV, for review and statistics",
        description="Write a municipality's records as UTF-8 CSV, one row per dose: "
        f"{', '.join(EXPORT_COLUMNS)}. It leaves out the My Number (M17), so an export is for "
        "review and statistics, not for importing again.",
    )
    p.add_argument("municipality", help="6-digit local government code, e.g. 382051")
    p.add_argument("file", type=Path, help="the CSV to write (its folder must exist)")
    _common(p)
    p.set_defaults(func=cmd_export)

    p = cmds.add_parser(
        "erase",
        help="erase one resident's record (and doses) from a municipality's area",
        description="Erase one resident's record, found by My Number, from a municipality's "
        "area, with its operation-log entry. The My Number is asked on the terminal (read "
        "from stdin when it is not one), never taken on the command line, where `ps` and the "
        "shell's history would keep it.",
    )
    p.add_argument("municipality", help="6-digit local government code, e.g. 382051")
    _common(p)
    p.set_defaults(func=cmd_erase)
    return cmds


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instance", type=Path, default=None, help="VRS instance folder")
    _database_option(p)
    p.add_argument("--json", action="store_true", help="errors and results as JSON on stdout")


def _database_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="postgresql://… (e.g. `bin/pg url INSTANCE`) or a SQLite file"
        f" (default: ${DATABASE_ENV}, else INSTANCE/vrs.sqlite3)",
    )


class ErrorBody(TypedDict):
    """A refusal as --json prints it: the one error shape (serving/errors.py)."""

    error: str
    message: str
    details: NotRequired[list[dict[str, object]]]


class CliError(Exception):
    """A refusal the user is told in words (JSON with --json), without a traceback."""

    def __init__(self, code: str, message: str, details: list[dict[str, object]] | None = None):
        super().__init__(message)
        self.body: ErrorBody = {"error": code, "message": message}
        if details:
            self.body["details"] = details

    @classmethod
    def of(cls, exc: VrsError) -> CliError:
        return cls(exc.code.value, exc.message, exc.details)


def fail(args: argparse.Namespace, exc: CliError) -> int:
    if getattr(args, "json", False):
        print(json.dumps(exc.body, ensure_ascii=False, indent=1))
    else:
        print(f"error: {exc.body['message']}", file=sys.stderr)
        for d in exc.body.get("details") or []:
            print(f"  row {d.get('row')}: {d.get('reason')}", file=sys.stderr)
    return 1


def _instance(args: argparse.Namespace) -> Path:
    from serving import home

    return args.instance or home() / "vrs"


def _database(args: argparse.Namespace) -> str | Path:
    return database_of(getattr(args, "database", None), _instance(args))


def is_instance(folder: Path, database: str | Path | None = None) -> bool:
    # both: a database without its master key would get a new key and lose every record
    db = database_of(database, folder)
    return (is_postgres(db) or Path(db).is_file()) and (folder / "master.key").is_file()


def _no_instance(folder: Path) -> CliError:
    return CliError(
        "no_instance",
        f"{folder} holds no VRS instance; create one with "
        f"`kiosk-sim vrs init --instance {folder}` (or `kiosk-sim vrs demo-data`)",
    )


def _open(args: argparse.Namespace) -> Vrs:
    """The instance's record system; a folder without one is refused, never created."""
    from . import open_vrs

    folder = _instance(args)
    if not is_instance(folder, _database(args)):
        raise _no_instance(folder)
    try:
        return open_vrs(folder, database=_database(args))
    except VrsError as exc:  # a full disk can refuse even the opening
        raise CliError.of(exc) from None


def _area(vrs: Vrs, args: argparse.Namespace) -> Area:
    """The municipality's area, or an error that lists the ones there are."""
    codes = sorted(m.code for m in vrs.municipalities())
    if args.municipality not in codes:
        raise CliError(
            "no_such_municipality",
            f"no municipality {args.municipality} in {_instance(args)} "
            f"(it has {', '.join(codes) or 'none: add one with `vrs add-municipality`'})",
        )
    return vrs.area(args.municipality)


def open_area(args: argparse.Namespace) -> Area:
    """The area of ``args.municipality`` in the instance of ``args.instance`` and
    ``args.database``; CliError when either is not there (nothing is created)."""
    try:
        return _area(_open(args), args)
    except VrsError as exc:
        raise CliError.of(exc) from None


def _reading(path: Path, what: str, exc: OSError) -> CliError:
    return CliError("unreadable_file", f"cannot {what} {path}: {exc.strerror or exc}")


def cmd_csca(args: argparse.Namespace) -> int:
    from certs import vds_pki
    from certs.vds import VdsError

    folder = _instance(args)
    if not is_instance(folder):
        return fail(args, _no_instance(folder))
    try:  # made at first run, as serving VRS would make it
        signer = vds_pki.load_or_create(folder / "vds-pki")
    except VdsError as exc:
        return fail(args, CliError(exc.code.value, f"{folder / 'vds-pki'}: {exc.message}"))
    sys.stdout.write(signer.csca_pem().decode("ascii"))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from . import demo, open_vrs

    instance = _instance(args)
    database = _database(args)
    if not is_postgres(database) and Path(database).exists():
        print(f"error: {database} exists; demo data goes into a new instance", file=sys.stderr)
        return 1
    try:
        vrs = open_vrs(instance, database=database)
    except VrsError as exc:
        args.json = False  # demo-data has no --json
        return fail(args, CliError.of(exc))
    if vrs.municipalities():
        print("error: the database holds records; demo data goes into a new one", file=sys.stderr)
        return 1
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


def cmd_init(args: argparse.Namespace) -> int:
    from . import open_vrs

    folder = _instance(args)
    if is_instance(folder, _database(args)) and not is_postgres(_database(args)):
        return fail(args, CliError("instance_exists", f"{folder} already holds a VRS instance"))
    if (folder / "vrs.sqlite3").exists() or (folder / "master.key").exists():
        return fail(
            args,
            CliError(
                "broken_instance",
                f"{folder} holds part of an instance (a database or a master key without the "
                "other); nothing was changed",
            ),
        )
    try:
        open_vrs(folder, database=_database(args))
    except VrsError as exc:
        return fail(args, CliError.of(exc))
    except OSError as exc:
        return fail(args, _reading(folder, "create", exc))
    _done(args, {"instance": str(folder)}, f"VRS instance created in {folder}")
    return 0


def cmd_add_municipality(args: argparse.Namespace) -> int:
    from .municipalities import Municipality

    m = Municipality(
        args.code,
        args.name_ja,
        args.name_en,
        args.prefecture,
        not args.no_convenience_store,
        args.mayor_ja or f"{args.name_ja}長",
        args.mayor_en or f"Mayor of {args.name_en}",
    )
    try:
        vrs = _open(args)
        if args.code in {m.code for m in vrs.municipalities()}:
            raise CliError("conflict", f"municipality {args.code} is already registered")
        vrs.add_municipality(m)
    except VrsError as exc:
        return fail(args, CliError.of(exc))
    except CliError as exc:
        return fail(args, exc)
    _done(args, {"municipality": m.code}, f"municipality {m.code} ({m.name_ja}) added")
    return 0


def _done(args: argparse.Namespace, data: dict[str, object], words: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else words)


def cmd_serve(args: argparse.Namespace) -> int:
    from serving import (
        DevCa,
        Server,
        mutual_tls_context,
        raise_open_files_limit,
        serve_until_stopped,
        setup_logging,
    )

    from . import create_app

    instance = _instance(args)
    if not is_instance(instance, _database(args)):
        args.json = False  # serve has no --json
        return fail(args, _no_instance(instance))
    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    lgwan = DevCa.LGWAN.open(instance.parent, args.pki)
    cert, key = lgwan.issue("vrs-server", "vrs.localhost", server=True)
    lgwan.issue("center-client", "issuance-center")
    iss = args.iss or f"https://{args.host}:{args.port}/issuer"
    app = create_app({"INSTANCE": instance, "ISS": iss, "DATABASE": _database(args)})
    raise_open_files_limit()
    ctx = mutual_tls_context(cert, key, lgwan.cert_path)
    servers = [Server(app, args.host, args.port, ctx, name="vrs", threads=args.threads).start()]
    if args.site_port >= 0:
        # M12: its own app, port and CA; the app gets a coupon desk, not the record system
        from .site import CouponDesk, create_site_app

        tablets = DevCa.SITE.open(instance.parent, args.site_pki)
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

    try:
        vrs = _open(args)
        _area(vrs, args)
        password = (
            getpass.getpass("password (12+ characters): ")
            if sys.stdin.isatty()
            else sys.stdin.readline().strip()
        )
        StaffService(vrs).create("cli", args.municipality, args.user_id, password, "administrator")
    except VrsError as exc:
        return fail(args, CliError.of(exc))
    except CliError as exc:
        return fail(args, exc)
    _done(
        args,
        {"user_id": args.user_id, "municipality": args.municipality},
        f"administrator {args.user_id} issued for {args.municipality}",
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .ledger import ledger_text
    from .ledger_chunks import start_early

    with contextlib.suppress(OSError):  # a pipe or a missing file: no size, and no head start
        if args.file.is_file():
            start_early(args.file.stat().st_size)
    try:
        vrs = _open(args)
        area = _area(vrs, args)  # before the file is read: a wrong code says so at once
        try:
            raw = args.file.open("rb")
        except OSError as exc:
            raise _reading(args.file, "read", exc) from None
        # the rows and their log entry in one short transaction at the end: VRS, serving from
        # the same database, goes on issuing while the file is read and sealed
        with raw, ledger_text(raw, args.encoding) as text:
            n = area.import_csv(text, actor="cli")
    except VrsError as exc:
        return fail(args, CliError.of(exc))
    except CliError as exc:
        return fail(args, exc)
    _done(args, {"imported": n}, f"imported {n} {'person' if n == 1 else 'persons'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:
        vrs = _open(args)
        area = _area(vrs, args)  # before the file is made: no empty file left behind
        try:
            with args.file.open("w", encoding="utf-8", newline="") as f:
                for chunk in area.export_csv():
                    f.write(chunk)
        except OSError as exc:
            raise _reading(args.file, "write", exc) from None
        vrs.log("cli", args.municipality, "records.export")
    except VrsError as exc:
        return fail(args, CliError.of(exc))
    except CliError as exc:
        return fail(args, exc)
    _done(
        args,
        {"exported": str(args.file)},
        f"exported to {args.file} (no My Number: for review and statistics, not re-import)",
    )
    return 0


def _ask_my_number() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("My Number of the resident to erase (12 digits, not shown): ")
    return sys.stdin.readline().strip()


def cmd_erase(args: argparse.Namespace) -> int:
    from card_reader.mynumber import is_valid

    try:
        area = open_area(args)
        number = _ask_my_number()
        if not is_valid(number):
            raise CliError("bad_request", "that is not a My Number (12 digits, check digit)")
        vrs = area.vrs
        found = area.find(number)
        if found is None:
            vrs.log("cli", area.code, "records.erase", "-", "not_found")
            raise CliError("not_found", f"no such person in municipality {area.code}")
        person_id = found[0].id
        with vrs.storage.transaction():  # the erasure and its log entry, or neither
            erased = area.erase(person_id)
            if erased:
                vrs.log("cli", area.code, "records.erase", person_id)
        if not erased:  # erased by someone else meanwhile
            raise CliError("not_found", f"no such person in municipality {area.code}")
    except VrsError as exc:
        return fail(args, CliError.of(exc))
    except CliError as exc:
        return fail(args, exc)
    _done(
        args,
        {"erased": person_id, "municipality": area.code},
        f"erased person {person_id} from municipality {area.code}",
    )
    return 0
