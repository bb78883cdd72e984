"""The kiosk's side of the dedicated line to the center: pooled keep-alive mutual TLS."""

from __future__ import annotations

import threading
import time
from typing import Any

from card_reader import CardFiles, to_wire
from serving import Link, LinkError

from .errors import KioskError

# A cancel the center missed is sent again every RETRY_EVERY seconds (and at once
# when the center next answers) until it gets through or the center has expired
# the session by itself (its 10-minute TTL): its My Number should not wait for that.
RETRY_EVERY = 1.0
RETRY_FOR = 600.0


class CenterClient:
    def __init__(
        self, base_url: str, cert: tuple[str, str], ca: str, timeout: float = 15.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # the kiosk CA only; a few connections: one visit at a time, plus cancels
        self._link = Link(
            base_url,
            ca=ca,
            cert=cert,
            size=4,
            connect_timeout=min(timeout, 3.0),
            read_timeout=timeout,
        )
        self._unsent: dict[str, float] = {}  # cancels the center did not get: session ID -> since
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            reply = self._link.request(method, path, body)
        except LinkError:
            raise KioskError("center_unavailable") from None
        self._flush()
        if reply.status == 204:
            return {}
        data = reply.data
        if not isinstance(data, dict):
            raise KioskError("center_unavailable")
        if reply.status >= 400:
            # the center's code, or VRS's behind it, is what the resident's words are chosen by
            code = data.get("detail") if data.get("error") == "vrs_refused" else data.get("error")
            raise KioskError(str(code or "center_unavailable"))
        return data

    def _flush(self) -> None:
        """The center answers again: wipe what earlier visits left there now, not at its TTL
        (off the caller's path, so a link that is still slow does not hold a visit up)."""
        with self._lock:
            unsent, self._unsent = self._unsent, {}
        for sid, since in unsent.items():
            threading.Thread(target=self.cancel, args=(sid, since), daemon=True).start()

    def open_session(self) -> dict[str, Any]:
        return self._call("POST", "/v1/sessions")

    def submit_card(self, sid: str, card: CardFiles) -> None:
        self._call(
            "POST",
            f"/v1/sessions/{sid}/card",
            to_wire(card),
        )

    def eligibility(self, sid: str, municipality: str) -> dict[str, Any]:
        return self._call(
            "POST", f"/v1/sessions/{sid}/eligibility", {"municipality_code": municipality}
        )

    def issue(self, sid: str, municipality: str, kind: str, copies: int) -> list[dict[str, Any]]:
        return self._call(
            "POST",
            f"/v1/sessions/{sid}/certificates",
            {"municipality_code": municipality, "certificate_type": kind, "copies": copies},
        )["certificates"]

    def cancel(self, sid: str, since: float | None = None) -> None:
        since = time.monotonic() if since is None else since
        try:
            self._call("DELETE", f"/v1/sessions/{sid}")
        except KioskError as exc:
            # slow or down: sent again. Not only when the next call gets through: that
            # call may have ended before this one timed out, and may be the last for a while.
            if exc.code == "center_unavailable" and time.monotonic() - since < RETRY_FOR:
                with self._lock:
                    self._unsent[sid] = since
                retry = threading.Timer(RETRY_EVERY, self._flush)
                retry.daemon = True
                retry.start()
