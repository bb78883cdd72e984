"""The printable certificate's wire form: what ``to_json`` writes ``from_json`` reads back, and
anything else is refused with ``bad_printable``, naming the field and never its value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from certs import CertError, Code, Printable, printable_from_json, sample
from certs.printable import JSON_SCHEMA, OVERSEAS_FIELDS

SEAL = '{"data": {}, "sig": {}}'  # the model carries the seal's JSON as text; vds.py checks it


def page(overseas: bool) -> Printable:
    cid = "3820510123456789"
    seal = SEAL if overseas else None
    return sample.printable("shc:/5676290952", cid, date(2026, 11, 27), overseas, 3, seal)


@pytest.mark.parametrize("overseas", [False, True], ids=["domestic", "overseas"])
def test_the_json_is_the_model_and_reads_back_the_same(overseas: bool) -> None:
    p = page(overseas)
    wire = p.to_json()
    assert list(wire) == list(JSON_SCHEMA["properties"])  # every field, always written
    assert Printable.from_json(wire) == p
    assert printable_from_json(wire) == p  # the kiosk's name for it is the same parser
    if not overseas:
        assert all(wire[f] is None for f in OVERSEAS_FIELDS)
        short = {k: v for k, v in wire.items() if k not in OVERSEAS_FIELDS}
        assert Printable.from_json(short) == p  # nulls may be left out


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
    def edit(d: dict[str, Any]) -> Any:
        *parents, last = path
        for k in parents:
            d = d[k]
        d[last] = value
        return None

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda d: d.pop(key)


MALFORMED: list[tuple[str, bool, Callable[[dict[str, Any]], Any], str]] = [
    ("no name", False, _drop("name"), "name is missing"),
    ("name a number", False, _set(("name",), 42), "name is missing or not a non-empty string"),
    ("an unknown field", False, _set(("notes",), "x"), "fields the model does not know"),
    ("another kind", False, _set(("certificate_type",), "foreign"), "neither domestic nor"),
    ("slashed date", False, _set(("issue_date",), "2026/11/27"), "issue_date is not YYYY-MM-DD"),
    # date.fromisoformat takes this since Python 3.11; the wire does not
    ("basic date", False, _set(("birth_date",), "19800401"), "birth_date is not YYYY-MM-DD"),
    ("no such day", False, _set(("birth_date",), "1980-02-30"), "birth_date is not a calendar"),
    ("no doses", False, _set(("doses",), []), "doses is missing or not a list"),
    ("doses an object", False, _set(("doses",), {}), "doses is missing or not a list"),
    ("dose number true", False, _set(("doses", 1, "number"), True), "doses[1].number"),
    ("dose number 0", False, _set(("doses", 2, "number"), 0), "doses[2].number"),
    ("dose without date", False, lambda d: d["doses"][0].pop("date"), "doses[0].date"),
    ("dose extra field", False, _set(("doses", 0, "vaccine"), "x"), "doses[0] has fields"),
    ("lot a number", False, _set(("doses", 0, "lot"), 7), "doses[0].lot"),
    ("qr not shc", False, _set(("qr_value",), "https://x"), "qr_value is not an shc:/"),
    ("domestic passport", False, _set(("passport_number",), "TZ0000000"), "a domestic"),
    ("overseas no seal", True, _set(("seal_value",), None), "an overseas certificate needs"),
    ("overseas no passport", True, _drop("passport_number"), "an overseas certificate needs"),
    ("overseas empty name", True, _set(("romanized_name",), ""), "romanized_name is missing"),
]


@pytest.mark.parametrize(
    ("overseas", "edit", "says"),
    [pytest.param(o, e, s, id=name) for name, o, e, s in MALFORMED],
)
def test_a_malformed_page_is_refused_with_bad_printable(
    overseas: bool, edit: Callable[[dict[str, Any]], Any], says: str
) -> None:
    wire = copy.deepcopy(page(overseas).to_json())
    edit(wire)
    with pytest.raises(CertError) as err:
        Printable.from_json(wire)
    assert err.value.code is Code.BAD_PRINTABLE
    assert says in err.value.message, err.value.message
    # the field's name, never a value: the page is personal data
    assert all(v not in err.value.message for v in ("見本", "MIHON", "TZ0000000", "FA5765", "1980"))


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_what_is_not_an_object_is_refused(raw: object) -> None:
    with pytest.raises(CertError) as err:
        Printable.from_json(raw)
    assert err.value.code is Code.BAD_PRINTABLE and "not a JSON object" in err.value.message
