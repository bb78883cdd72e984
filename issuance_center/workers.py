"""``center serve --workers N``: N processes on one port, any of them any call of any session.

The supervisor (this module, the process the operator started) prepares the center's
files once, starts the workers' shared Redis unless ``--redis`` names one, and starts N
``center serve --worker`` processes. Each worker is a whole center of its own (its
``serving.Server``, its pool of connections to VRS) bound to the same port with
``SO_REUSEPORT``: the kernel spreads new connections among the listening workers, and
the sessions they serve live in the shared store, so no call needs a particular worker.

Why ``SO_REUSEPORT`` rather than a front process or one socket shared by forking:

- cheroot binds its own socket (``reuse_port`` is one of its options), so a worker is
  exactly what ``center serve`` is with one process, tested the same way; a front would
  add a hop (and a TLS termination or a byte relay) to every call;
- each worker has its own accept queue, so the workers do not all wake for each new
  connection (a shared listening socket in every process's selector would);
- a worker that dies closes its socket, and the kernel stops giving it connections at once.

The supervisor keeps the port bound itself (``SO_REUSEPORT``, never listening), so a free
port (``--port 0``) stays this center's while workers come and go, and it starts a worker
again when one exits. A worker killed mid-request loses its connections: the kiosk's POST
fails (it is never resent by the link), the session's claim lapses after its lease, and VRS
refuses a second issuance for the session; the kiosk's payment is captured only once the
certificate is printed, so nobody is charged for what failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .redis_server import OwnRedis, RedisUnavailable
from .shared import KEY_ENV, PASSWORD_ENV

log = logging.getLogger("issuance_center.workers")

START_TIMEOUT = 30.0  # seconds a worker may take to listen
RESTART_DELAY = (0.5, 10.0)  # a worker that keeps dying is started again less and less often


class Worker:
    def __init__(self, index: int, command: list[str], env: dict[str, str]) -> None:
        self.index = index
        self.command = command
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.listening = threading.Event()
        self.started = 0.0
        self.delay = RESTART_DELAY[0]

    def start(self) -> None:
        self.listening.clear()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, text=True, env=self.env, start_new_session=True
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # read to the end: a full pipe would stall the worker
            if "listening" in line:
                self.listening.set()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0


def _reserve(host: str, port: int) -> socket.socket:
    """The port, bound (not listening) with SO_REUSEPORT: the workers join it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker_command(
    args: argparse.Namespace, home: Path, port: int, redis_url: str, i: int
) -> list[str]:
    command = [sys.executable, "-m", "kiosk_sim.cli", "center", "serve", "--worker"]
    command += ["--home", str(home), "--host", args.host, "--port", str(port)]
    command += ["--vrs", args.vrs, "--threads", str(args.threads)]
    if args.vrs_connections:
        command += ["--vrs-connections", str(args.vrs_connections)]
    command += ["--sessions", "redis", "--redis", redis_url]
    for issuer in args.trust_card_issuer:  # checked by the supervisor already
        command += ["--trust-card-issuer", issuer]
    if args.log_file is not None:  # a file each: one rotating file is not for two processes
        log_file = args.log_file.with_name(f"{args.log_file.stem}-w{i}{args.log_file.suffix}")
        command += ["--log-file", str(log_file)]
    command += ["--log-max-bytes", str(args.log_max_bytes), "--log-backups", str(args.log_backups)]
    return command


def supervise(args: argparse.Namespace, home: Path) -> int:
    from serving import setup_logging

    from .cli import SUPERVISOR_ENV, prepare

    setup_logging(args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups)
    prepare(home)  # once, before any worker reads the files
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    own = None
    if args.redis is None:
        try:
            own = OwnRedis().start()
        except RedisUnavailable as exc:
            print(f"center serve: {exc}", file=sys.stderr)
            return 1
        env[PASSWORD_ENV] = own.password
        env[KEY_ENV] = os.urandom(32).hex()  # lives as long as the Redis: its sessions only
    redis_url = args.redis or (own.url if own else "")
    try:
        reserved = _reserve(args.host, args.port)
    except OSError as exc:
        print(f"center serve: cannot bind {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        if own:
            own.stop()
        return 1
    port = reserved.getsockname()[1]
    workers = [
        Worker(i, _worker_command(args, home, port, redis_url, i), env) for i in range(args.workers)
    ]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        for w in workers:
            w.start()
        deadline = time.monotonic() + START_TIMEOUT
        for w in workers:
            if not w.listening.wait(max(0.0, deadline - time.monotonic())):
                print(
                    f"center serve: worker {w.index} did not start (see its log)", file=sys.stderr
                )
                return 1
        pids = ",".join(str(w.pid) for w in workers)
        print(
            f"center listening on https://{args.host}:{port} ({len(workers)} workers, pids {pids};"
            " kiosks need a kiosk CA certificate)",
            flush=True,
        )
        while not stop.wait(0.2):
            for w in workers:
                assert w.proc is not None
                rc = w.proc.poll()
                if rc is None:
                    if time.monotonic() - w.started > 60:
                        w.delay = RESTART_DELAY[0]  # it ran a while: start it at once next time
                    continue
                if time.monotonic() - w.started < w.delay:
                    continue  # not yet: it died young, wait a little before the next start
                log.warning(
                    "op=worker outcome=exited worker=%d pid=%d rc=%d: starting it again",
                    w.index,
                    w.pid,
                    rc,
                )
                w.delay = min(w.delay * 2, RESTART_DELAY[1])
                w.start()
        return 0
    finally:
        _stop_all(workers)
        reserved.close()
        if own is not None:
            own.stop()


def _stop_all(workers: list[Worker]) -> None:
    running = [w.proc for w in workers if w.proc is not None and w.proc.poll() is None]
    for p in running:
        p.terminate()
    deadline = time.monotonic() + 6.0  # a worker exits within 5 s of its SIGTERM
    for p in running:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
