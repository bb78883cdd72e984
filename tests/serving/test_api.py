"""``serving.api``: an API app whose model refusals are 400 ``bad_request`` in the one error
shape, naming nothing the caller chose, and whose description is served and says so."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any, Literal

import pytest
from flask import Response
from flask.testing import FlaskClient
from flask_openapi3.blueprint import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from serving.api import JsonInt, api_app, error_model, openapi31, refusals, reply


class Code(StrEnum):
    BAD_REQUEST = "bad_request"
    NOPE = "nope"


Error = error_model(Code)


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Literal["a", "b"]
    count: JsonInt = Field(ge=1, le=3)


class Done(BaseModel):
    count: int


bp = APIBlueprint("things", __name__, url_prefix="/v1")


@bp.post("/things", responses={200: Done, **refusals(Error, 403)})
def make(body: Thing) -> Response:
    """Make a thing"""
    return reply(Done(count=body.count))


@pytest.fixture
def client() -> FlaskClient:
    app = api_app(
        __name__, title="Things", description="test", error=Error, log=logging.getLogger("t")
    )
    app.register_api(bp)
    return app.test_client()


def refused(resp: Any) -> str:
    assert (resp.status_code, resp.json["error"]) == (400, "bad_request"), resp.json
    assert set(resp.json) == {"error", "message"}
    message: str = resp.json["message"]
    return message


def test_a_thing_that_fits_is_made(client: FlaskClient) -> None:
    resp = client.post("/v1/things", json={"name": "a", "count": 2.0})  # 2.0 is 2 in JSON
    assert (resp.status_code, resp.json) == (200, {"count": 2})


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
    ],
)
def test_a_field_outside_its_model_is_a_400_that_names_it(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    assert refused(client.post("/v1/things", json=body)).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "data", ["[]", '"x"', "1", "null", "{not json", '"{\\"name\\": \\"a\\", \\"count\\": 1}"', ""]
)
def test_a_body_that_is_no_object_is_a_400(client: FlaskClient, data: str) -> None:
    resp = client.post("/v1/things", data=data, content_type="application/json")
    assert refused(resp) == "the request body must be a JSON object"


def test_fields_the_model_does_not_know_are_refused_and_never_named(client: FlaskClient) -> None:
    resp = client.post(
        "/v1/things", json={"name": "a", "count": 1, "my_number": "123456789018", "氏名": "花子"}
    )
    message = refused(resp)
    assert message == "the request holds fields the API does not know"
    for chosen in ("my_number", "123456789018", "氏名", "花子"):
        assert chosen not in message


def test_the_description_is_served_and_describes_our_refusals(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1") and spec["info"]["title"] == "Things"
    op = spec["paths"]["/v1/things"]["post"]
    assert set(op["responses"]) == {"200", "400", "403"}
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["enum"] == ["bad_request", "nope"]
    assert "ValidationErrorModel" not in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"] == {}  # never null
    thing = spec["components"]["schemas"]["Thing"]
    assert thing["additionalProperties"] is False
    assert client.get("/openapi").status_code == 404  # no Swagger UI


def test_openapi31_says_nullable_as_3_1_does() -> None:
    schema = {
        "type": "object",
        "properties": {
            "seal": {"type": "object", "nullable": True, "required": ["a"]},
            "names": {"type": "array", "items": {"type": "string", "nullable": True}},
            "nullable": {"type": "boolean"},  # a property of that name stays
        },
    }
    assert openapi31(schema) == {
        "type": "object",
        "properties": {
            "seal": {"anyOf": [{"type": "object", "required": ["a"]}, {"type": "null"}]},
            "names": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "nullable": {"type": "boolean"},
        },
    }
