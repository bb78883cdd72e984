"""Sessions in a Redis every worker of the center shares: any worker serves any call.

Why a shared store rather than a session the kiosk carries, sealed by the center's key:
a sealed token says what the session was when it was sealed, not what happened to it
since. The kiosk could send the same card answer to two workers at once, each holding
the same token, and both would verify it; or replay an older token after the card was
verified. Refusing that (``card_replayed``, ``session_busy``) takes state that every
worker sees at once, changed atomically: that is the shared store.

The Redis runs with persistence off (no RDB snapshot, no append-only file) and every
entry expires with its session, so the center still keeps nothing on disk (M06):
``issuance_center.redis_server`` starts one that way. Each session is three keys, in one
hash slot (``{sid}``):

- ``…:s`` a hash: the kiosk ID, the challenge, whether the card answer was taken, and the
  verified My Number sealed with AES-GCM under a key only the center's workers hold
  (the session ID is its associated data, so a sealed number moved to another session
  does not open); it expires with the session;
- ``…:b`` the step in flight and its claim's token, ``SET`` with a lease: a worker killed
  mid-step leaves its claim behind only until the lease ends;
- ``…:m`` the kiosk ID, kept a little longer than the session, so that a call just after
  the expiry is told ``session_expired`` rather than ``session_unknown``.

Every transition is one Lua script, atomic in Redis: the same outcomes as
:class:`issuance_center.sessions.SessionStore`, whichever worker each call reaches.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import CenterError, Code
from .sessions import EXPIRED_GRACE, Claim, Session, Step, Steps

if TYPE_CHECKING:
    import redis

SEAL_KEY_BYTES = 32  # AES-256-GCM
KEY_ENV = "KIOSK_SIM_SESSION_KEY"  # the workers' sealing key (hex), in their environment
PASSWORD_ENV = "KIOSK_SIM_REDIS_PASSWORD"  # the shared Redis's password
LEASE = 30.0  # seconds a claimed step may last: longer than any step (VRS's timeout is 10 s)
SID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # what ``open`` makes (token_urlsafe(24): 32)

# KEYS: s, b, m. ARGV: kiosk. Status first; the live session's fields after.
_LIVE = """
local function live(kiosk)
  local f = redis.call('HMGET', KEYS[1], 'kiosk', 'challenge', 'card', 'mn')
  if not f[1] then
    if redis.call('GET', KEYS[3]) == kiosk then
      redis.call('DEL', KEYS[3])
      return nil, 'expired'
    end
    return nil, 'unknown'
  end
  if f[1] ~= kiosk then return nil, 'unknown' end
  return f, nil
end
"""
_GET = (
    _LIVE
    + """
local f, err = live(ARGV[1])
if err then return {err} end
return {'ok', f[2], f[4] or '', redis.call('PTTL', KEYS[1])}
"""
)
# ARGV: kiosk, step, token, lease (ms)
_CLAIM = (
    _LIVE
    + """
local f, err = live(ARGV[1])
if err then return {err} end
local busy = redis.call('GET', KEYS[2])
local busy_step = busy and string.match(busy, '^[^ ]+')
if ARGV[2] == 'card' and f[3] and busy_step ~= 'card' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return {'replayed'}
end
if busy then return {'busy'} end
if ARGV[2] == 'card' then
  redis.call('HSET', KEYS[1], 'card', '1')
elseif not f[4] then
  return {'state'}
end
redis.call('SET', KEYS[2], ARGV[2] .. ' ' .. ARGV[3], 'PX', ARGV[4])
return {'ok', f[2], f[4] or '', redis.call('PTTL', KEYS[1])}
"""
)
# KEYS: s, b. ARGV: step and token, the sealed number ('' for none)
_RELEASE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'mn', ARGV[2]) end
redis.call('DEL', KEYS[2])
return 1
"""
# KEYS: s, m. ARGV: kiosk, challenge, ttl (ms), marker's ttl (ms)
_OPEN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'kiosk', ARGV[1], 'challenge', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
return 1
"""

_REFUSALS = {
    b"unknown": (Code.SESSION_UNKNOWN, "no such session at this kiosk"),
    b"expired": (Code.SESSION_EXPIRED, "the session expired; start again"),
    b"replayed": (Code.CARD_REPLAYED, "card data was already submitted in this session"),
    b"busy": (Code.SESSION_BUSY, "another request on this session is still being processed"),
    b"state": (Code.SESSION_STATE, "the card has not been verified in this session"),
}


def _unavailable() -> CenterError:
    return CenterError(
        Code.SESSION_STORE_UNAVAILABLE,
        "the center's session store cannot be reached; please try again",
    )


def seal_key_from_env(name: str = KEY_ENV) -> bytes:
    """The workers' shared sealing key, hex in the environment (``center serve`` passes it)."""
    text = os.environ.get(name, "")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != SEAL_KEY_BYTES:
        raise ValueError(f"{name} must hold {SEAL_KEY_BYTES} bytes as hex")
    return key


class RedisSessionStore(Steps):
    """Sessions in a Redis shared by the center's workers (see the module's docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        seal_key: bytes,
        ttl: float,
        *,
        prefix: str = "center",
        lease: float = LEASE,
    ) -> None:
        if len(seal_key) != SEAL_KEY_BYTES:
            raise ValueError(f"the session sealing key must be {SEAL_KEY_BYTES} bytes")
        if ttl <= 0 or lease <= 0:
            raise ValueError("the session TTL and the claim lease must be positive")
        self.ttl = ttl
        self.lease = lease
        self.prefix = prefix
        self._redis = client
        self._aead = AESGCM(seal_key)
        self._get = client.register_script(_GET)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._open = client.register_script(_OPEN)

    @classmethod
    def connect(
        cls, url: str, password: str | None, seal_key: bytes, ttl: float, **kw: Any
    ) -> RedisSessionStore:
        """A store on the Redis at ``url`` (``unix:///path`` or ``redis://host:port/db``)."""
        import redis

        client = redis.Redis.from_url(
            url,
            password=password,
            socket_timeout=5.0,
            socket_connect_timeout=3.0,
            health_check_interval=30,
            max_connections=64,
        )
        return cls(client, seal_key, ttl, **kw)

    # --- keys and sealing
    def _keys(self, sid: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{{{sid}}}"
        return f"{base}:s", f"{base}:b", f"{base}:m"

    def _seal(self, sid: str, my_number: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, my_number.encode(), sid.encode())

    def _unseal(self, sid: str, sealed: bytes) -> str | None:
        if not sealed:
            return None
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], sid.encode()).decode()
        except (InvalidTag, ValueError):
            # not sealed by this center's key: as if the card had never been verified
            return None

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        import redis

        try:
            return script(keys=keys, args=args)
        except redis.RedisError:
            raise _unavailable() from None

    def _session(self, sid: str, kiosk_id: str, answer: list[Any]) -> Session:
        status = answer[0]
        if status != b"ok":
            code, message = _REFUSALS[status]
            raise CenterError(code, message)
        challenge, sealed, pttl = answer[1], answer[2], int(answer[3])
        return Session(
            sid,
            kiosk_id,
            bytes(challenge),
            time.time() + max(pttl, 0) / 1000,
            my_number=self._unseal(sid, bytes(sealed)),
        )

    def _checked(self, sid: str) -> str:
        # the path's session ID becomes part of a key: only what ``open`` could have made
        if not SID.fullmatch(sid):
            raise CenterError(Code.SESSION_UNKNOWN, "no such session at this kiosk")
        return sid

    # --- the store's interface
    def open(self, kiosk_id: str) -> Session:
        ttl_ms = int(self.ttl * 1000)
        while True:
            sid = secrets.token_urlsafe(24)
            challenge = secrets.token_bytes(32)
            s, _, m = self._keys(sid)
            made = self._run(
                self._open,
                [s, m],
                [kiosk_id, challenge, ttl_ms, ttl_ms + int(EXPIRED_GRACE * 1000)],
            )
            if made:  # 192 random bits: taken only in theory
                return Session(sid, kiosk_id, challenge, time.time() + self.ttl)

    def get(self, sid: str, kiosk_id: str) -> Session:
        answer = self._run(self._get, list(self._keys(self._checked(sid))), [kiosk_id])
        return self._session(sid, kiosk_id, answer)

    def claim(self, sid: str, kiosk_id: str, step: Step) -> Claim:
        """Marks ``step`` in flight (for at most the lease), or refuses it; never blocks."""
        token = secrets.token_hex(8)
        answer = self._run(
            self._claim,
            list(self._keys(self._checked(sid))),
            [kiosk_id, step.value, token, int(self.lease * 1000)],
        )
        session = self._session(sid, kiosk_id, answer)
        return Claim(session, step, session.my_number or "", f"{step.value} {token}")

    def release(self, claim: Claim, my_number: str | None = None) -> bool:
        sid = claim.session.id
        s, b, _ = self._keys(sid)
        sealed = self._seal(sid, my_number) if my_number is not None else b""
        return bool(self._run(self._release, [s, b], [claim.token, sealed]))

    def close(self, sid: str) -> None:
        if SID.fullmatch(sid):
            import redis

            try:
                self._redis.delete(*self._keys(sid))
            except redis.RedisError:
                # the entry expires with its session anyway; the kiosk is told the call failed
                raise _unavailable() from None

    def __contains__(self, sid: object) -> bool:
        return (
            isinstance(sid, str)
            and bool(SID.fullmatch(sid))
            and bool(self._redis.exists(self._keys(sid)[0]))
        )

    def __len__(self) -> int:
        """Sessions open now (a scan of this store's keys: for tests and diagnostics)."""
        return sum(1 for _ in self._redis.scan_iter(match=f"{self.prefix}:{{*}}:s", count=500))

    def close_client(self) -> None:
        self._redis.close()
