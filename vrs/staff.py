"""Staff identities (M14), their sessions, and intrusion detection (M20).

User IDs are issued by an administrator of the same area with the least
privilege that does the job; revoking one ends its sessions. Passwords are
stored as argon2id hashes. Repeated failed logins lock the ID for a while and
are reported in the operation log and the service log.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import clock
from .areas import Vrs
from .errors import Code, VrsError

log = logging.getLogger("vrs.security")

# role -> what it may do; "area" of national/prefecture roles is not a municipality
PERMISSIONS: dict[str, frozenset[str]] = {
    "administrator": frozenset(
        {"read", "import", "export", "erase", "manage_staff", "review_log", "transfer"}
    ),
    # transfer: ask a former municipality for a moved-in resident's doses (M18)
    "operator": frozenset({"read", "import", "export", "transfer"}),
    "read-only": frozenset({"read", "export"}),
    "prefecture": frozenset({"statistics"}),
    "national": frozenset({"statistics"}),
}
MUNICIPAL_ROLES = ("administrator", "operator", "read-only")
MAX_FAILED = 5
LOCK_SECONDS = 900
SESSION_SECONDS = 1800
_hasher = PasswordHasher()


@dataclass(frozen=True)
class StaffUser:
    user_id: str
    area: str  # a municipality code, a prefecture name, or "national"
    role: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


class StaffService:
    def __init__(self, vrs: Vrs) -> None:
        self.vrs = vrs
        self.storage = vrs.storage
        self._sessions: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.bad_credentials = 0
        self._failures: dict[str, list[float]] = {}  # source -> times of its failed logins

    def create(self, actor: str, area: str, user_id: str, password: str, role: str) -> StaffUser:
        if role not in PERMISSIONS:
            raise VrsError(Code.BAD_REQUEST, f"role must be one of {', '.join(PERMISSIONS)}")
        if not user_id or len(user_id) > 64 or not user_id.isascii():
            raise VrsError(Code.BAD_REQUEST, "user_id is 1 to 64 ASCII characters")
        if len(password) < 12:
            raise VrsError(Code.BAD_REQUEST, "passwords are at least 12 characters")
        with self.storage.transaction():
            if self.storage.staff(user_id) is not None:
                raise VrsError(Code.CONFLICT, "this user ID exists already")
            self.storage.put_staff(
                {
                    "user_id": user_id,
                    "area": area,
                    "role": role,
                    "password_hash": _hasher.hash(password),
                    "revoked": 0,
                    "created_by": actor,
                    "created_at": clock.now().isoformat(timespec="seconds"),
                    "failed_logins": 0,
                    "locked_until": 0,
                }
            )
            self.vrs.log(actor, area, "staff.issue", user_id)  # the ID and its entry, or neither
        return StaffUser(user_id, area, role)

    def revoke(self, admin: StaffUser, user_id: str) -> None:
        with self.storage.transaction():
            row = self.storage.staff(user_id)
            if row is not None and row["area"] == admin.area:
                row["revoked"] = 1
                self.storage.put_staff(row)
                self.vrs.log(admin.user_id, admin.area, "staff.revoke", user_id)
        if row is None or row["area"] != admin.area:  # another area's ID, or none: logged
            self.vrs.log(admin.user_id, admin.area, "staff.revoke", user_id[:64], "not_found")
            raise VrsError(Code.NOT_FOUND, "no such user ID in this area")
        with self._lock:
            for token in [t for t, (uid, _) in self._sessions.items() if uid == user_id]:
                del self._sessions[token]

    def listing(self, admin: StaffUser) -> list[dict[str, object]]:
        self.vrs.log(admin.user_id, admin.area, "staff.review")
        return [
            {
                "user_id": r["user_id"],
                "role": r["role"],
                "revoked": bool(r["revoked"]),
                "created_by": r["created_by"],
                "created_at": r["created_at"],
                "privileges": sorted(PERMISSIONS.get(r["role"], ())),
            }
            for r in self.storage.staff_in(admin.area)
        ]

    def login(self, user_id: str, password: str, source: str) -> str:
        now = clock.now().timestamp()
        with self.storage.transaction():
            row = self.storage.staff(user_id)
            locked = row is not None and row["locked_until"] > now
            ok = False
            # a locked ID is refused without a try being counted: retries neither extend the
            # lock nor reach the password check, and the lock lifts LOCK_SECONDS after it was set
            if row is not None and not row["revoked"] and not locked:
                try:
                    ok = _hasher.verify(row["password_hash"], password)
                except (VerificationError, InvalidHashError):
                    ok = False
                row["failed_logins"] = 0 if ok else row["failed_logins"] + 1
                if row["failed_logins"] >= MAX_FAILED:
                    row["locked_until"] = now + LOCK_SECONDS
                    row["failed_logins"] = 0  # a fresh count once the lock lifts
                    locked = True
                self.storage.put_staff(row)
        area = row["area"] if row else "-"
        if not ok:
            revoked = row is not None and bool(row["revoked"])
            outcome = "locked" if locked else "revoked" if revoked else "failed"
            self.vrs.log(user_id[:64], area, "staff.login", "-", outcome)
            if revoked:  # the answer stays "wrong user ID or password"; the log says why
                log.warning("login with a revoked staff ID from %s", source)
            if not locked and self._suspect(source, now):
                # guesses spread over many IDs, or IDs that do not exist, lock no ID
                log.warning(
                    "intrusion suspected: %d failed logins from %s within %d minutes",
                    MAX_FAILED,
                    source,
                    LOCK_SECONDS // 60,
                )
                self.vrs.log("system", "-", "security.intrusion_suspected", source, "reported")
            if locked:
                # M20: reported where an operator watches (the service log), and kept in the oplog
                log.warning(
                    "intrusion suspected: repeated failed logins for a staff ID from %s", source
                )
                self.vrs.log(
                    "system", area, "security.intrusion_suspected", user_id[:64], "reported"
                )
                raise VrsError(
                    Code.LOCKED_OUT, "too many failed logins; this ID is locked for a while"
                )
            raise VrsError(Code.UNAUTHENTICATED, "wrong user ID or password")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = (user_id, now + SESSION_SECONDS)
        self.vrs.log(user_id, area, "staff.login")
        return token

    def _suspect(self, source: str, now: float) -> bool:
        """Counts a failed login from ``source``: True at each MAX_FAILED-th within the window."""
        with self._lock:
            if len(self._failures) > 1024:  # one entry per terminal; forget the quiet ones
                self._failures = {
                    s: t for s, t in self._failures.items() if t[-1] > now - LOCK_SECONDS
                }
            recent = [t for t in self._failures.get(source, []) if t > now - LOCK_SECONDS]
            recent.append(now)
            self._failures[source] = recent
            return len(recent) % MAX_FAILED == 0

    def authenticate(self, token: str | None, source: str) -> StaffUser:
        with self._lock:
            entry = self._sessions.get(token or "")
        row = self.storage.staff(entry[0]) if entry and entry[1] > clock.now().timestamp() else None
        if row is None or row["revoked"]:
            self.bad_credentials += 1
            log.warning("request with bad credentials from %s", source)
            self.vrs.log("unknown", "-", "security.bad_credentials", "-", "refused")
            raise VrsError(
                Code.UNAUTHENTICATED, "log in first (missing, expired or revoked session)"
            )
        return StaffUser(row["user_id"], row["area"], row["role"])
