"""What several test modules share: a process's end, one schemathesis case against an app in
process, and the card's files as the center's API takes them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import schemathesis
from flask import Flask

# the card request's fields (card_reader's CardWire), spelled out: the tests compare with this
CARD_REQUEST_FIELDS = frozenset(
    {"ef0001", "ef0002", "ef0003", "ef0004", "ef0007", "presence_signature"}
)


def ended(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet (it has exited all the same)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def call_in_process(case: schemathesis.Case, app: Flask, codes: Iterable[str]) -> None:
    """``case`` against ``app`` in process: no 5xx, every 4xx one of ``codes`` with a
    message, every answer as described."""
    case.operation.schema.app = app  # the checks' own probes go in process too
    resp = case.call(app=app)
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        body = resp.json()
        assert body["error"] in set(codes) and body["message"]
    case.validate_response(resp, transport_kwargs={"app": app})
