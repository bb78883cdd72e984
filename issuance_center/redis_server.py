"""A Redis of the center's own: the workers' shared session store, nothing on disk.

``center serve --workers N`` starts one for its workers (and the tests start one the way
the card tests start pcscd). It is Debian's ``redis-server`` with

- persistence off (``--save ""``, ``--appendonly no``): no snapshot, no append-only file,
  so the center still keeps nothing on disk (M06); its working folder is a fresh private
  one that stays empty;
- a Unix socket only (``port 0``), in that folder (mode 0700, the socket 0700), and a
  generated password, given on its standard input rather than its command line (which
  every local user can read in ``ps``);
- a memory bound without eviction: when full, a new session is refused (503), an open one
  is never dropped to make room.

Never the system's Redis service: this one lives and dies with the command that started it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REDIS_SERVER = "redis-server"
MAX_MEMORY = "256mb"


class RedisUnavailable(RuntimeError):
    """redis-server is missing or did not start."""


class OwnRedis:
    """One ``redis-server`` on a Unix socket in a private temporary folder."""

    def __init__(self, *, max_memory: str = MAX_MEMORY) -> None:
        self.password = secrets.token_urlsafe(32)
        self.max_memory = max_memory
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> OwnRedis:
        binary = shutil.which(REDIS_SERVER) or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if binary is None:
            raise RedisUnavailable(
                "redis-server is not installed (bin/setup installs Debian's redis-server)"
            )
        # short: a Unix socket's path is limited to 107 bytes
        base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
        self.dir = Path(tempfile.mkdtemp(prefix="kiosk-sim-redis-", dir=base))
        config = "\n".join(
            [
                f"requirepass {self.password}",
                f"unixsocket {self.socket}",
                "unixsocketperm 700",
                f"dir {self.dir}",
                f"maxmemory {self.max_memory}",
                "maxmemory-policy noeviction",
                "",
            ]
        )
        # what keeps it off the disk is on the command line for anyone to check
        command = [binary, "-", "--port", "0", "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", "--loglevel", "warning", "--logfile", ""]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C in the terminal reaches it through us only
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(config.encode())
        self.proc.stdin.close()
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.stop()
                raise RedisUnavailable(f"redis-server exited at start: {err.strip()[-300:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RedisUnavailable("redis-server did not answer within its start timeout")
            time.sleep(0.02)
        return self

    def ready(self) -> bool:
        import redis

        if not self.socket.exists():
            return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), password=self.password)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> OwnRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
