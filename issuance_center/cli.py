"""`kiosk-sim center serve`: the certificate issuance center on its two mutual-TLS links."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from card_reader import TrustStore
from serving import add_home_option

from .shared import KEY_ENV, PASSWORD_ENV, seal_key_from_env

SUPERVISOR_ENV = "KIOSK_SIM_CENTER_SUPERVISOR"  # a worker's supervisor's process ID


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
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes serving the one port (SO_REUSEPORT), any of them any call of any"
        " session; more than 1 needs the shared session store (default: 1)",
    )
    p.add_argument(
        "--sessions",
        choices=["memory", "redis"],
        default=None,
        help="where sessions live: this process's memory, or a Redis the workers share"
        " (default: memory for one worker, redis for more)",
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="the workers' shared Redis (unix:///path/redis.sock or redis://host:port/0), for"
        f" workers on several machines: its password in ${PASSWORD_ENV}, the key that seals"
        f" the My Number in ${KEY_ENV} (64 hex digits, the same on every worker). Without"
        " it, --sessions redis starts a Redis of its own (no persistence, Unix socket,"
        " generated password)",
    )
    p.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT, beside other center processes on the same port",
    )
    p.add_argument(
        "--trust-card-issuer",
        action="append",
        default=[],
        metavar="[KEYID=]FILE",
        help="also trust this card issuer's RSA key (PEM certificate or public key; repeatable),"
        " beside the instance's development issuer. KEYID: the 32 hex digits of the issuer key"
        " ID a card's certificate names (`card read` shows it when it refuses the card);"
        " without it, the ID a development issuer (DevCardIssuer) gives that key",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --workers
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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("between 1 and 64")
    return value


def _session_store(args: argparse.Namespace) -> str | None:
    """The store the options ask for, or None after saying what is wrong with them."""
    store = args.sessions or ("redis" if args.workers > 1 or args.redis else "memory")
    if store == "memory" and args.workers > 1:
        print(
            "center serve: --workers needs --sessions redis: sessions in one process's memory"
            " are not seen by the others",
            file=sys.stderr,
        )
        return None
    if store == "memory" and args.redis:
        print("center serve: --redis is for --sessions redis", file=sys.stderr)
        return None
    if args.redis:
        if not args.redis.startswith(("unix://", "redis://", "rediss://")):
            print(
                "center serve: --redis takes unix:///path, redis://host:port/db or"
                " rediss://host:port/db",
                file=sys.stderr,
            )
            return None
        try:
            seal_key_from_env(KEY_ENV)
        except ValueError as exc:
            print(f"center serve: {exc} (the same on every worker)", file=sys.stderr)
            return None
        if not os.environ.get(PASSWORD_ENV):
            print(
                f"center serve: --redis needs the Redis password in ${PASSWORD_ENV}",
                file=sys.stderr,
            )
            return None
    return store


def extra_issuers(specs: list[str]) -> dict[bytes, RSAPublicKey]:
    """``--trust-card-issuer`` values as trust-store entries; ValueError in words naming
    the value at fault."""
    from card_reader.softcard.issuer import root_key_id
    from card_reader.trust import read_issuer_key

    keys = {}
    for spec in specs:
        key_id, sep, name = spec.partition("=")
        if not sep or not re.fullmatch(r"[0-9A-Fa-f]{32}", key_id):
            key_id, name = "", spec  # a plain path (that may hold a "=")
        key = read_issuer_key(Path(name))
        keys[bytes.fromhex(key_id) if key_id else root_key_id(key)] = key
    return keys


def cmd_serve(args: argparse.Namespace) -> int:
    from serving import home as default_home

    store = _session_store(args)
    if store is None:
        return 2
    try:  # at start, before anything serves: a bad file is refused, not found at the first card
        issuers = extra_issuers(args.trust_card_issuer)
    except ValueError as exc:
        print(f"center serve: --trust-card-issuer {exc}", file=sys.stderr)
        return 2
    args.issuers = issuers
    home = args.home or default_home()
    if args.workers > 1:
        from .workers import supervise

        return supervise(args, home)
    own = None
    config: dict[str, object] = {"SESSION_STORE": store}
    if store == "redis":
        if args.redis is None:  # one process with a Redis of its own: for trying it out
            from .redis_server import OwnRedis, RedisUnavailable

            try:
                own = OwnRedis().start()
            except RedisUnavailable as exc:
                print(f"center serve: {exc}", file=sys.stderr)
                return 1
            os.environ[PASSWORD_ENV] = own.password
            os.environ[KEY_ENV] = os.urandom(32).hex()
        config |= {
            "REDIS_URL": args.redis or (own.url if own else ""),
            "REDIS_PASSWORD": os.environ[PASSWORD_ENV],
            "SESSION_SEAL_KEY": seal_key_from_env(KEY_ENV),
        }
    try:
        return _serve(args, home, config)
    finally:
        if own is not None:
            own.stop()


def prepare(home: Path, *, publish_crl: bool = True) -> dict[str, Path]:
    """The center's files in ``home``: its certificates, the kiosk registry, the trust store,
    the kiosk CA's CRL (signed afresh unless ``publish_crl`` is false: a worker of
    ``--workers`` uses the one its supervisor signed)."""
    from card_reader.softcard import DevCardIssuer
    from serving import DevCa

    from .kiosks import Kiosk, KioskRegistry

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
    # signed afresh at each start: a CRL past its date refuses all
    crl = kiosk_ca.publish_crl() if publish_crl else kiosk_ca.crl_path
    return {
        "server_cert": server_cert,
        "server_key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
        "registry": registry,
        "trust": trust,
        "crl": crl,
        "kiosk_ca": kiosk_ca.cert_path,
        "lgwan_ca": lgwan.cert_path,
    }


def _serve(args: argparse.Namespace, home: Path, sessions: dict[str, object]) -> int:
    from serving import (
        CrlContext,
        Server,
        raise_open_files_limit,
        serve_until_stopped,
        setup_logging,
    )

    from . import create_app

    if args.worker:
        die_with_parent()
    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    files = prepare(home, publish_crl=not args.worker)
    trust = TrustStore.load(files["trust"])
    for key_id, key in args.issuers.items():
        trust.add(key_id, key)
    if args.issuers and not args.worker:
        ids = ", ".join(k.hex() for k in args.issuers)
        print(f"center: card issuer keys trusted besides the instance's: {ids}", flush=True)
    app = create_app(
        {
            "TRUST": trust,
            "KIOSKS": files["registry"],
            "KIOSK_CRL": files["crl"],
            "KIOSK_CA": files["kiosk_ca"],
            "VRS_URL": args.vrs,
            "VRS_CLIENT_CERT": files["client_cert"],
            "VRS_CLIENT_KEY": files["client_key"],
            "VRS_CA": files["lgwan_ca"],
            "VRS_CONNECTIONS": args.vrs_connections or args.threads,
            **sessions,
        }
    )
    ctx = CrlContext(files["server_cert"], files["server_key"], files["kiosk_ca"], files["crl"])
    raise_open_files_limit()
    server = Server(
        app,
        args.host,
        args.port,
        ctx,
        name="center",
        threads=args.threads,
        reuse_port=args.reuse_port or args.worker,
    ).start()
    print(
        f"center listening on https://{args.host}:{server.port} (kiosks need a kiosk CA certificate)",
        flush=True,
    )
    serve_until_stopped(server)
    return 0


def die_with_parent() -> None:
    """A worker ends with its supervisor, even one killed outright (Linux's parent-death
    signal): no worker is left serving without the supervisor that restarts the others."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM only
        return
    if str(os.getppid()) != os.environ.get(SUPERVISOR_ENV):  # it was gone already
        os._exit(1)


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
