"""The center's side of the LGWAN link to VRS: pooled keep-alive mutual TLS, short timeouts."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from serving import Link, LinkError

from .errors import CenterError, Code

_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")  # the shape of VRS's error codes


class VrsClient:
    def __init__(
        self,
        base_url: str,
        *,
        client_cert: tuple[Path | str, Path | str],
        ca_file: Path | str,
        timeout: float = 10.0,
        connections: int = 16,
        municipality_ttl: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # the LGWAN link trusts its own CA only; one pool, sized to VRS's workers
        self._link = Link(
            base_url,
            ca=ca_file,
            cert=client_cert,
            size=connections,
            connect_timeout=min(timeout, 3.0),
            read_timeout=timeout,
        )
        self._municipalities: tuple[float, list[dict[str, Any]]] | None = None
        self._municipality_ttl = municipality_ttl
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            reply = self._link.request(method, path, body)
        except LinkError as exc:
            raise CenterError(
                Code.VRS_UNAVAILABLE,
                "the vaccination record system cannot be reached; please try again later",
                exc.code.value,
            ) from None
        data = reply.data
        if reply.status >= 500:
            # VRS's stable reason (busy, storage_error, disk_full …) travels on when it gave one
            reason = data.get("error") if isinstance(data, dict) else None
            raise CenterError(
                Code.VRS_UNAVAILABLE,
                "the vaccination record system is not available; please try again later",
                reason
                if isinstance(reason, str) and _REASON.fullmatch(reason)
                else f"http_{reply.status}",
            )
        if not isinstance(data, dict):
            # every VRS answer is a JSON object: anything else is a fault, not a refusal
            raise CenterError(
                Code.VRS_UNAVAILABLE, "the vaccination record system answered garbage"
            )
        if reply.status >= 400:
            # VRS's reason travels on as is: its codes are stable and carry no personal data
            raise CenterError(
                Code.VRS_REFUSED,
                str(data.get("message", "refused by the vaccination record system")),
                str(data.get("error", f"http_{reply.status}")),
            )
        return data

    def municipalities(self) -> list[dict[str, Any]]:
        """Every municipality VRS knows (no personal data), cached for a minute."""
        with self._lock:
            cached = self._municipalities
            if cached is not None and time.monotonic() - cached[0] < self._municipality_ttl:
                return cached[1]
        data = self._call("GET", "/v1/municipalities").get("municipalities")
        if not isinstance(data, list) or not all(
            isinstance(m, dict) and isinstance(m.get("code"), str) for m in data
        ):
            raise CenterError(
                Code.VRS_UNAVAILABLE, "the vaccination record system answered garbage"
            )
        with self._lock:
            self._municipalities = (time.monotonic(), data)
        return data

    def eligibility(self, municipality_code: str, my_number: str) -> dict[str, Any]:
        return self._call(
            "POST",
            "/v1/eligibility",
            {"municipality_code": municipality_code, "my_number": my_number},
        )

    def issue(
        self,
        municipality_code: str,
        my_number: str,
        certificate_type: str,
        copies: int,
        *,
        session_id: str,
    ) -> dict[str, Any]:
        """``session_id``: VRS issues once per session and refuses a second with 409
        ``session_already_issued`` (passed on as ``vrs_refused``)."""
        return self._call(
            "POST",
            "/v1/certificates",
            {
                "municipality_code": municipality_code,
                "my_number": my_number,
                "certificate_type": certificate_type,
                "copies": copies,
                "session_id": session_id,
            },
        )
