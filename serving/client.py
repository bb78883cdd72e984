"""The client end of a link: one pool of keep-alive mutual-TLS connections per server.

Kiosk → center and center → VRS each hold one :class:`Link`. Its connections
are kept open between calls, so a handshake is paid per connection rather than
per request, and their number is bounded (size it to the server's workers: a
caller past that waits for a free connection, never opens another).

A call whose connection could not be made is retried once, whatever the
method: nothing was sent. A connection that dropped during a call is retried
once only for idempotent methods (GET, DELETE, …): a POST may have reached the
server, and an issuance must never be sent twice.

Built on urllib3 directly rather than requests: the same pool underneath,
without a session layer the center would pay for on every call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from .tls import client_context

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY = urllib3.Retry(
    total=1,
    connect=1,  # nothing was sent: any method
    read=1,  # the connection dropped after sending: idempotent methods only
    status=0,
    other=0,
    redirect=0,
    allowed_methods=IDEMPOTENT,
    raise_on_status=False,
    raise_on_redirect=False,
)


class LinkCode(StrEnum):
    UNREACHABLE = "unreachable"  # no connection could be made, or it broke
    TIMEOUT = "timeout"  # connected, but no answer in time


class LinkError(Exception):
    """The other end could not be reached or did not answer: no HTTP status to go by."""

    def __init__(self, code: LinkCode, reason: str) -> None:
        super().__init__(f"{code.value}: {reason}")
        self.code = code
        self.reason = reason  # the exception's type name: no URL, no payload


@dataclass(frozen=True)
class Reply:
    status: int
    data: Any  # the decoded JSON body; None when the body is empty or not JSON


class Link:
    """A pool of up to ``size`` keep-alive connections to ``base_url`` (``https://host:port``)."""

    def __init__(
        self,
        base_url: str,
        *,
        ca: Path | str,
        cert: tuple[Path | str, Path | str] | None = None,
        size: int = 8,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        url = urllib3.util.parse_url(base_url)
        if url.scheme != "https" or not url.host:
            raise ValueError(f"not an https:// base URL: {base_url}")
        self.base_url = base_url.rstrip("/")
        self._prefix = (url.path or "").rstrip("/")
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._pool = urllib3.HTTPSConnectionPool(
            url.host,
            url.port or 443,
            maxsize=size,
            block=True,  # bounded: a caller waits for a connection rather than open one more
            timeout=self.timeout,
            retries=RETRY,
            ssl_context=client_context(ca, cert),
        )

    def request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> Reply:
        """One call; ``body`` goes as JSON. Raises :class:`LinkError` when no answer came."""
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        t = self.timeout if timeout is None else urllib3.Timeout(connect=timeout, read=timeout)
        try:
            resp = self._pool.urlopen(
                method,
                self._prefix + path,
                body=payload,
                headers=headers,
                timeout=t,
                pool_timeout=t.read_timeout,  # type: ignore[arg-type]  # urllib3 types it int; a float is fine (a queue's get timeout)
                preload_content=True,
            )
        except urllib3.exceptions.MaxRetryError as exc:
            raise _link_error(exc.reason or exc) from None
        except Urllib3Error as exc:
            raise _link_error(exc) from None
        try:
            data = json.loads(resp.data) if resp.data else None
        except ValueError:
            data = None
        return Reply(resp.status, data)

    def close(self) -> None:
        self._pool.close()


def _link_error(exc: BaseException) -> LinkError:
    timeouts = (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.EmptyPoolError)
    code = LinkCode.TIMEOUT if isinstance(exc, timeouts) else LinkCode.UNREACHABLE
    return LinkError(code, type(exc).__name__)
