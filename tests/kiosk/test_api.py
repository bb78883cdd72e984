"""The kiosk screen's local HTTP API, declared once (kiosk/models.py): what its description says,
that the page's script and the README ask nothing the models do not hold, and schemathesis
against a kiosk in process (no 5xx, every 4xx a reason, every answer as described).

The kiosk under test is ``create_app`` with a center double and no watcher; its runtime is never
started, so nothing here can leave a thread running (checked after every call).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import schemathesis
from flask import Flask

from kiosk import create_app
from kiosk.api import description
from kiosk.models import Action, ActionName, Refusal, Screen, State
from kiosk.printer import SimulatedPrinter
from tests.helpers import call_in_process
from tests.hypothesis_profiles import fuzz

from .test_flow_lock import FakeCenter

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "kiosk" / "static" / "kiosk.js").read_text()
SPEC = description()
schema = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = {
    ("/api/state", "get"),
    ("/api/action", "post"),
    ("/api/tray/{n}.png", "get"),
    ("/openapi.json", "get"),
}


class Center(FakeCenter):
    """The center double of the flow's tests, with the link's lifecycle the runtime calls."""

    def start(self) -> None:
        raise AssertionError("the runtime was started")

    def close(self) -> None:
        pass


def kiosk_app() -> Flask:
    return create_app(
        {
            "CENTER": Center(),
            "PRINTER_OBJ": SimulatedPrinter(None),
            "READER": "memory",
            "WATCH": False,
            "TESTING": True,
        }
    )


@pytest.fixture(scope="module")
def app() -> Flask:
    return kiosk_app()


@pytest.fixture
def no_new_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) == before


def schema_of(name: str) -> dict[str, Any]:
    found: dict[str, Any] = SPEC["components"]["schemas"][name]
    return found


def body_schema(path: str, method: str, status: str) -> dict[str, Any]:
    op = SPEC["paths"][path][method]
    where = op["requestBody"] if status == "request" else op["responses"][status]
    ref: str = where["content"]["application/json"]["schema"]["$ref"]
    return schema_of(ref.rsplit("/", 1)[1])


# --- schemathesis


@pytest.mark.security("B10")
@schema.parametrize()
@fuzz(40)
def test_no_input_breaks_the_kiosk_screen_api(
    case: schemathesis.Case, app: Flask, cases: Any
) -> None:
    cases()
    before = set(threading.enumerate())
    call_in_process(case, app, (r.value for r in Refusal))
    assert set(threading.enumerate()) == before  # no job, no watcher, no closer


# --- the description


def test_the_description_is_served_and_describes_every_route_of_the_api(app: Flask) -> None:
    assert app.test_client().get("/openapi.json").json == SPEC
    described = {(p, m) for p, item in SPEC["paths"].items() for m in item}
    assert described == OPERATIONS
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule), m.lower())
        for r in app.url_map.iter_rules()
        for m in r.methods or ()
        if m not in ("HEAD", "OPTIONS") and r.endpoint.startswith("api")
    }
    assert served | {("/openapi.json", "get")} == OPERATIONS
    assert SPEC["openapi"].startswith("3.1")


def test_every_refusal_is_an_error_with_the_kiosks_codes() -> None:
    error = schema_of("Error")
    assert error["properties"]["error"]["enum"] == [
        "bad_request",
        "not_found",
        "method_not_allowed",
        "request_too_large",
    ]
    assert "ValidationErrorModel" not in SPEC["components"]["schemas"]
    for path, method in OPERATIONS - {("/openapi.json", "get")}:
        assert "400" in SPEC["paths"][path][method]["responses"], path


def test_the_state_holds_every_field_the_page_and_the_readme_name() -> None:
    state = body_schema("/api/state", "get", "200")
    assert body_schema("/api/action", "post", "200") == state
    fields = set(state["properties"])
    assert set(state["required"]) == fields  # none left out, null where there is nothing
    read = set(re.findall(r"\b(?:state|s)\.([a-z_]+)", SCRIPT))
    assert read and read <= fields, read - fields
    readme = (ROOT / "kiosk" / "README.md").read_text()
    said = readme.split("`GET /api/state`", 1)[1].split("- `POST", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", said)) == fields


def test_the_screens_are_the_pages_and_the_qa_contracts() -> None:
    screens = set(get_args(Screen))
    assert body_schema("/api/state", "get", "200")["properties"]["screen"]["enum"] == list(
        get_args(Screen)
    )
    drawn = re.search(r"const screens = \{(.*?)\n\};", SCRIPT, re.S)
    assert drawn is not None
    assert set(re.findall(r"^  (\w+):", drawn.group(1), re.M)) == screens
    readme = (ROOT / "kiosk" / "README.md").read_text()
    contract = readme.split('`<main data-screen="…">` is one of:', 1)[1].split(".", 1)[0]
    assert set(re.findall(r"`(\w+)`", contract)) == screens


def test_the_actions_are_those_the_page_sends() -> None:
    sent = set(re.findall(r'\b(?:send|button)\("([a-z-]+)"', SCRIPT))
    assert sent == set(get_args(ActionName))
    action = body_schema("/api/action", "post", "request")
    assert action["additionalProperties"] is False and action["required"] == ["action"]
    assert action["properties"]["action"]["enum"] == list(get_args(ActionName))


# --- what it does


def post(app: Flask, body: object) -> Any:
    return app.test_client().post("/api/action", json=body)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"action": "print-for-free"}, "action must be"),
        ({"action": "digit", "value": "1"}, "action must be"),  # the keypad's own, never sent
        ({"value": "en"}, "action is required"),
        ({"action": "pin", "value": "12a4"}, "value must match"),
        ({"action": "pin", "value": 1234}, "value must be a string"),
        ({"action": "lang", "value": "en", "name": "x"}, "fields the API does not know"),
        (["lang"], "must be a JSON object"),
        ("lang", "must be a JSON object"),
    ],
)
def test_an_action_that_does_not_fit_is_refused_as_a_bad_request(
    body: object, words: str, no_new_threads: None
) -> None:
    app = kiosk_app()
    resp = post(app, body)
    assert resp.status_code == 400
    assert resp.json["error"] == "bad_request" and words in resp.json["message"]
    assert "1234" not in resp.json["message"] and "12a4" not in resp.json["message"]
    assert app.extensions["kiosk_flow"].lang == "ja"  # and it did nothing


def test_an_action_answers_the_state_after_it(no_new_threads: None) -> None:
    app = kiosk_app()
    resp = post(app, {"action": "lang", "value": "en"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    state = State.model_validate(resp.json)
    assert (state.screen, state.lang, state.code, state.tries) == ("welcome", "en", None, None)
    # what the page tests for null is null, not left out
    for field in ("message", "code", "reminder", "tries", "kind", "municipality"):
        assert field in resp.json and resp.json[field] is None, field
    assert app.test_client().get("/api/state").json == resp.json
    # a press the screen does not take changes nothing, and is no error
    assert post(app, {"action": "pay", "value": None}).json == resp.json


def test_the_tray_serves_the_pages_on_the_final_screen_only(no_new_threads: None) -> None:
    app = kiosk_app()
    flow = app.extensions["kiosk_flow"]
    flow.printer.tray.append(b"\x89PNG page")
    client = app.test_client()
    assert client.get("/api/tray/0.png").status_code == 404  # not on "welcome"
    flow.screen = "done"
    page = client.get("/api/tray/0.png")
    assert (page.status_code, page.mimetype, page.data) == (200, "image/png", b"\x89PNG page")
    missing = client.get("/api/tray/1.png")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"


def test_a_center_whose_municipalities_cannot_be_read_is_not_understood() -> None:
    from kiosk.errors import Code, KioskError
    from kiosk.flow import offered

    good = {"code": "382051", "name_ja": "新居浜市", "name_en": "Niihama"}
    assert offered({"municipalities": [good]})[0][0].code == "382051"
    for session in (
        {"municipalities": [{**good, "code": "38205"}]},
        {"municipalities": [{"code": "382051"}]},
        {"not_offering": 5},
    ):
        with pytest.raises(KioskError) as refused:
            offered(session)
        assert refused.value.code is Code.CENTER_UNAVAILABLE


def test_the_action_model_takes_what_the_page_sends() -> None:
    for action, value in (("pin", "0042"), ("municipality", "382051"), ("lang", "en")):
        assert Action.model_validate({"action": action, "value": value}).value == value
    assert Action.model_validate({"action": "cancel", "value": None}).value is None
