"""``CardWire``: the card data on the wire (kiosk -> center), owned by the card layer."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from card_reader import CardFiles, CardWire, InMemoryTransport, TextApplication
from card_reader.softcard import Profile

from .conftest import CardFactory

HOLDER = Profile.demo()


def read(card: object, challenge: bytes | None) -> CardFiles:
    app = TextApplication(InMemoryTransport(card))  # type: ignore[arg-type]
    app.select()
    app.verify_pin(HOLDER.pin)
    return app.read_card_files(challenge)


def test_what_the_kiosk_sends_is_what_the_verifier_reads(card: CardFactory) -> None:
    files = read(card(), b"challenge")
    sent = CardWire.of(files).model_dump()
    assert set(sent) == {"ef0001", "ef0002", "ef0003", "ef0004", "ef0007", "presence_signature"}
    assert CardWire.model_validate(sent).files(b"challenge") == files


def test_no_signature_is_sent_empty(card: CardFactory) -> None:
    files = read(card(), None)
    wire = CardWire.of(files)
    assert wire.presence_signature == ""
    assert wire.files(b"issued").presence_signature == b""


def good() -> dict[str, Any]:
    return {f: base64.b64encode(b"x").decode() for f in CardWire.model_fields}


@pytest.mark.parametrize(
    "change,kind",
    [
        ({"my_number": HOLDER.my_number}, "extra_forbidden"),  # M08: nothing but the chip's
        ({"name": HOLDER.name}, "extra_forbidden"),
        ({"ef0001": "***"}, "value_error"),
        ({"ef0001": "eA"}, "value_error"),  # unpadded
        ({"ef0001": "eA==\n"}, "value_error"),
        ({"ef0002": 1}, "string_type"),
        ({"ef0002": None}, "string_type"),
        ({"ef0003": "A" * 4100}, "string_too_long"),
    ],
    ids=["my_number", "name", "stars", "unpadded", "newline", "number", "null", "too_long"],
)
def test_anything_else_is_refused(change: dict[str, Any], kind: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CardWire.model_validate({**good(), **change})
    assert [e["type"] for e in refused.value.errors()] == [kind]


def test_every_field_is_required() -> None:
    for name in CardWire.model_fields:
        body = good()
        del body[name]
        with pytest.raises(ValidationError) as refused:
            CardWire.model_validate(body)
        assert [(e["type"], e["loc"]) for e in refused.value.errors()] == [("missing", (name,))]


def test_its_repr_holds_no_card_data(card: CardFactory) -> None:
    wire = CardWire.of(read(card(), b"c"))
    assert repr(wire) == "CardWire()" and wire.ef0001 not in str(wire)
