"""serving.typed_api: a refused request's words name fields, never what was sent."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import AfterValidator, Field, ValidationError

from serving.typed_api import Closed, invalid_request, openapi31

SECRET = "123456789018"


def _even(n: int) -> int:
    if n % 2:
        raise ValueError("is not even")
    return n


class Ask(Closed):
    code: str = Field(pattern=r"^[0-9]{6}$")
    count: Annotated[int, Field(ge=1, le=3), AfterValidator(_even)]


@pytest.mark.parametrize(
    ("sent", "words"),
    [
        ({"code": SECRET, "count": 2}, "code must match ^[0-9]{6}$"),
        ({"code": "123456", "count": 3}, "count is not even"),
        ({"code": "123456", "count": 4}, "count must be at most 3"),
        ({"code": "123456", "count": "2"}, "count must be a whole number"),
        ({"code": "123456", "count": True}, "count must be a whole number"),
        ({"code": "123456"}, "count is required"),
        ({"code": "123456", "count": 2, SECRET: 1}, "? is not a field of this request"),
        ({"code": "123456", "count": 2, "name": SECRET}, "name is not a field of this request"),
        ({"code": int(SECRET), "count": 2}, "code must be a string"),
        (SECRET, "the request body must be a JSON object"),
        ([SECRET], "the request body must be a JSON object"),
    ],
)
def test_the_words_name_the_field_not_the_value(sent: object, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Ask.model_validate(sent)
    message = invalid_request(refused.value)
    assert words in message
    assert SECRET not in message


def test_a_body_that_is_a_json_string_is_not_parsed_again() -> None:
    with pytest.raises(ValidationError) as refused:
        Ask.model_validate_json('{"code": "123456", "count": 2}')
    assert invalid_request(refused.value) == "the request body must be a JSON object"


def test_openapi31_turns_nullable_into_a_union_with_null() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "nullable": True}, "b": {"type": "integer"}},
        "required": ["b"],
    }
    assert openapi31(schema) == {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "b": {"type": "integer"},
        },
        "required": ["b"],
    }
