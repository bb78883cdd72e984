"""``serving.api``: an API app whose model refusals are the system's own 400 ``bad_request``
in the one error shape, whose words name the field at fault and never what was sent (a
value, or a key the model does not know), and whose description is served and says so."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import pytest
from flask import Response, g
from flask.testing import FlaskClient
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.openapi import OpenAPI
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from serving.api import (
    MAX_REASONS,
    NOT_AN_OBJECT,
    UNKNOWN_FIELDS,
    Closed,
    JsonInt,
    Strict,
    api_app,
    error_model,
    openapi31,
    reasons,
    refusals,
    reply,
)
from serving.errors import ApiError

SECRET = "123456789018"  # a My Number: never in a refusal's words


class Code(StrEnum):
    BAD_REQUEST = "bad_request"
    NOPE = "nope"


class ThingError(ApiError):
    STATUS: ClassVar[dict[Any, int]] = {Code.BAD_REQUEST: 400, Code.NOPE: 403}


Error = error_model(Code)


def _even(n: int) -> int:
    if n % 2:
        raise ValueError("is not even")
    return n


class Part(Closed):
    label: str = Field(pattern=r"^[a-z]{1,8}$")


class Thing(Closed):
    name: Literal["a", "b"]
    count: JsonInt = Field(ge=1, le=3)
    note: str | None = None
    parts: list[Part] = Field(default_factory=list, max_length=3)
    tags: dict[str, int] = Field(default_factory=dict)


class Done(BaseModel):
    count: int
    note: str | None = None


class Ask(Closed):
    """The words of each refusal, one per rule: checked without an app."""

    code: str = Field(pattern=r"^[0-9]{6}$")
    count: Annotated[int, Field(ge=1, le=3), AfterValidator(_even)]


class Loose(Strict):
    """Strict without Closed: types as sent, other fields ignored."""

    count: int


class Page(BaseModel):
    limit: int = Field(10, ge=0, le=100)


bp = APIBlueprint("things", __name__, url_prefix="/v1")


@bp.post("/things", responses={200: Done, **refusals(Error, 403)})
def make(body: Thing) -> Response:
    """Make a thing"""
    return reply(Done(count=body.count))


@bp.post("/loose", responses={200: Done, **refusals(Error)})
def loose(body: Loose) -> Response:
    """Count, loosely"""
    return reply(Done(count=body.count, note=None))


@bp.get("/things", responses={200: Done, **refusals(Error)})
def listing(query: Page) -> Response:
    """List things"""
    return reply(Done(count=query.limit))


@bp.post("/nope", responses=refusals(Error, 403))
def nope() -> Response:
    """Refused, always"""
    raise ThingError(Code.NOPE, "no")


def unregistered_app(bad_request: Code = Code.BAD_REQUEST) -> OpenAPI:
    """The things' app without their routes, an invalid request refused with ``bad_request``."""
    return api_app(
        __name__,
        title="Things",
        description="test",
        error=Error,
        bad_request=lambda words: ThingError(bad_request, words),
        log=logging.getLogger("t"),
    )


def things_app() -> OpenAPI:
    app = unregistered_app()
    app.register_api(bp)
    return app


LOGGED: list[str] = []


@pytest.fixture
def client() -> FlaskClient:
    app = things_app()

    @app.after_request
    def access_log(resp: Response) -> Response:  # what an access log reads (the center's)
        LOGGED.append(str(g.get("error", "ok")))
        return resp

    LOGGED.clear()
    return app.test_client()


def refused(resp: Any) -> str:
    assert (resp.status_code, resp.json["error"]) == (400, "bad_request"), resp.json
    assert set(resp.json) == {"error", "message"}
    assert LOGGED[-1] == "bad_request"  # recorded for the access log, as any refusal
    message: str = resp.json["message"]
    assert SECRET not in message
    return message


# --- the app ----------------------------------------------------------------------------------


def test_a_thing_that_fits_is_made(client: FlaskClient) -> None:
    resp = client.post("/v1/things", json={"name": "a", "count": 2.0})  # 2.0 is 2 in JSON
    # an optional field the answer was not given stays out of it
    assert (resp.status_code, resp.json) == (200, {"count": 2})
    assert resp.mimetype == "application/json"
    assert client.post("/v1/loose", json={"count": 2}).json == {"count": 2, "note": None}


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "c", "count": 1}, "name"),
        ({"name": "a", "count": 0}, "count"),
        ({"name": "a", "count": 4}, "count"),
        ({"name": "a", "count": True}, "count"),
        ({"name": "a", "count": "1"}, "count"),
        ({"name": "a", "count": 1.5}, "count"),
        ({"name": "a"}, "count"),
        ({"name": "a", "count": 1, "note": 5}, "note"),
        ({"name": "a", "count": 1, "parts": [{"label": SECRET}]}, "parts.0.label"),
        ({"name": "a", "count": 1, "parts": "x"}, "parts"),
    ],
)
def test_a_field_outside_its_model_is_a_400_that_names_it(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    assert refused(client.post("/v1/things", json=body)).startswith(f"{field} ")


def test_the_400_is_the_systems_own_refusal(client: FlaskClient) -> None:
    assert refused(client.post("/v1/things", json={})) == "name is required; count is required"
    # and any other refusal of the system's still answers as before
    resp = client.post("/v1/nope")
    assert (resp.status_code, resp.get_json()["error"], LOGGED[-1]) == (403, "nope", "nope")


def test_a_bad_request_refusal_must_be_a_400() -> None:
    with pytest.raises(ValueError, match="status 400"):
        unregistered_app(Code.NOPE)


@pytest.mark.parametrize(
    "data", ["[]", '"x"', "1", "null", "{not json", '"{\\"name\\": \\"a\\", \\"count\\": 1}"', ""]
)
def test_a_body_that_is_no_object_is_a_400(client: FlaskClient, data: str) -> None:
    """A JSON string holding an object is not parsed a second time, whatever the model."""
    for path in ("/v1/things", "/v1/loose"):
        resp = client.post(path, data=data, content_type="application/json")
        assert refused(resp) == NOT_AN_OBJECT


@pytest.mark.measure("M08")
def test_fields_the_model_does_not_know_are_refused_and_never_named(client: FlaskClient) -> None:
    resp = client.post(
        "/v1/things",
        json={"name": "a", "count": 1, "my_number": SECRET, "氏名": "花子", SECRET: 1},
    )
    message = refused(resp)
    assert message == UNKNOWN_FIELDS  # said once, however many
    for chosen in ("my_number", SECRET, "氏名", "花子"):
        assert chosen not in message
    # below a known field too
    resp = client.post(
        "/v1/things", json={"name": "a", "count": 1, "parts": [{"label": "ab", "name": "x"}]}
    )
    assert refused(resp) == UNKNOWN_FIELDS


def test_a_strict_model_takes_types_as_sent_and_ignores_other_fields(client: FlaskClient) -> None:
    assert refused(client.post("/v1/loose", json={"count": "2"})) == "count must be a whole number"
    assert refused(client.post("/v1/loose", json={"count": 2.0})) == "count must be a whole number"
    assert client.post("/v1/loose", json={"count": 2, "other": 1}).status_code == 200


def test_a_query_outside_its_model_is_a_400_that_names_it(client: FlaskClient) -> None:
    assert client.get("/v1/things", query_string={"limit": "5"}).json == {"count": 5}
    resp = client.get("/v1/things", query_string={"limit": "101"})
    assert refused(resp) == "limit must be at most 100"


def test_the_description_is_served_and_describes_our_refusals(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    assert spec == things_app().api_doc
    assert spec["openapi"].startswith("3.1") and spec["info"]["title"] == "Things"
    op = spec["paths"]["/v1/things"]["post"]
    assert set(op["responses"]) == {"200", "400", "403"}
    # 400 on every operation, an Error, never pydantic's list; the description itself too
    for path, ops in spec["paths"].items():
        for method, described in ops.items():
            bad = described["responses"]["400"]["content"]["application/json"]["schema"]
            assert bad == {"$ref": "#/components/schemas/Error"}, (method, path)
    assert "/openapi.json" in spec["paths"]
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["enum"] == ["bad_request", "nope"]
    assert set(error["required"]) == {"error", "message"}
    assert "null" not in str(error["properties"]["details"])  # left out, never null
    assert "ValidationErrorModel" not in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"] == {}  # never null
    thing = spec["components"]["schemas"]["Thing"]
    assert thing["additionalProperties"] is False
    assert thing["properties"]["count"]["type"] == "integer"
    assert client.get("/openapi").status_code == 404  # no Swagger UI
    assert client.get("/static/x").status_code == 404  # no static files


# --- the words, without an app ----------------------------------------------------------------


def words_for(sent: object) -> str:
    with pytest.raises(ValidationError) as refusal:
        Ask.model_validate(sent)
    return reasons(refusal.value)


@pytest.mark.parametrize(
    ("sent", "words"),
    [
        ({"code": SECRET, "count": 2}, "code must match ^[0-9]{6}$"),
        ({"code": "123456", "count": 3}, "count is not even"),  # our validator's words
        ({"code": "123456", "count": 4}, "count must be at most 3"),
        ({"code": "123456", "count": 0}, "count must be at least 1"),
        ({"code": "123456", "count": "2"}, "count must be a whole number"),
        ({"code": "123456", "count": True}, "count must be a whole number"),
        ({"code": "123456"}, "count is required"),
        ({"code": int(SECRET), "count": 2}, "code must be a string"),
        ({"code": "123456", "count": 2, SECRET: 1}, UNKNOWN_FIELDS),
        ({"code": "123456", "count": 2, "name": SECRET}, UNKNOWN_FIELDS),
        ({"code": "123456", "count": 2, "my_number": SECRET}, UNKNOWN_FIELDS),
        (SECRET, NOT_AN_OBJECT),
        ([SECRET], NOT_AN_OBJECT),
        (None, NOT_AN_OBJECT),
    ],
)
def test_the_words_name_the_field_not_the_value(sent: object, words: str) -> None:
    message = words_for(sent)
    assert message == words
    assert SECRET not in message


def test_every_field_at_fault_is_named_once() -> None:
    message = words_for({"code": 1, "count": "x", "name": 1, "my_number": 2})
    assert message == f"code must be a string; count must be a whole number; {UNKNOWN_FIELDS}"


def test_the_reasons_are_bounded() -> None:
    class Many(Strict):
        a: int
        b: int
        c: int
        d: int
        e: int
        f: int
        g: int

    with pytest.raises(ValidationError) as refusal:
        Many.model_validate({})
    message = reasons(refusal.value)
    assert message.count("is required") == MAX_REASONS
    assert message.endswith(f" (and {7 - MAX_REASONS} more)")


def test_a_key_the_client_chose_below_a_field_is_not_named() -> None:
    class Tagged(Strict):
        tags: dict[str, int]
        rows: list[dict[str, int]]

    with pytest.raises(ValidationError) as refusal:
        Tagged.model_validate({"tags": {SECRET: "x", "colour": "y"}, "rows": [{"名前": "z"}]})
    message = reasons(refusal.value)
    assert message == (
        "tags.? must be a whole number; tags.colour must be a whole number;"
        " rows.0.? must be a whole number"
    )


# --- openapi31 --------------------------------------------------------------------------------


def test_openapi31_says_nullable_as_3_1_does() -> None:
    schema = {
        "type": "object",
        "properties": {
            "seal": {"type": "object", "nullable": True, "required": ["a"]},
            "names": {"type": "array", "items": {"type": "string", "nullable": True}},
            "count": {"type": "integer", "nullable": False},
            "nullable": {"type": "boolean"},  # a property of that name stays
        },
        "required": ["count"],
    }
    assert openapi31(schema) == {
        "type": "object",
        "properties": {
            "seal": {"anyOf": [{"type": "object", "required": ["a"]}, {"type": "null"}]},
            "names": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "count": {"type": "integer"},
            "nullable": {"type": "boolean"},
        },
        "required": ["count"],
    }
