"""The center's side of the LGWAN link to VRS: mutual TLS, short timeouts."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from .errors import CenterError, Code


class VrsClient:
    def __init__(
        self,
        base_url: str,
        *,
        client_cert: tuple[str, str] | None,
        ca_file: str | bool,
        timeout: float = 10.0,
        municipality_ttl: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        # the LGWAN link trusts its own CA only: no REQUESTS_CA_BUNDLE, no proxies
        # from the environment (requests lets them override Session.verify)
        self._http.trust_env = False
        self._http.cert = client_cert
        self._http.verify = ca_file
        self._municipalities: tuple[float, list[dict[str, Any]]] | None = None
        self._municipality_ttl = municipality_ttl
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            resp = self._http.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CenterError(
                Code.VRS_UNAVAILABLE,
                "the vaccination record system cannot be reached; please try again later",
                type(exc).__name__,
            ) from None
        if resp.status_code >= 500:
            raise CenterError(
                Code.VRS_UNAVAILABLE,
                "the vaccination record system is not available; please try again later",
                f"http_{resp.status_code}",
            )
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            # every VRS answer is a JSON object: anything else is a fault, not a refusal
            raise CenterError(
                Code.VRS_UNAVAILABLE, "the vaccination record system answered garbage"
            )
        if resp.status_code >= 400:
            # VRS's reason travels on as is: its codes are stable and carry no personal data
            raise CenterError(
                Code.VRS_REFUSED,
                str(data.get("message", "refused by the vaccination record system")),
                str(data.get("error", f"http_{resp.status_code}")),
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
        self, municipality_code: str, my_number: str, certificate_type: str, copies: int
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/v1/certificates",
            {
                "municipality_code": municipality_code,
                "my_number": my_number,
                "certificate_type": certificate_type,
                "copies": copies,
            },
        )
