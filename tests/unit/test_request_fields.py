"""The HTTP side of the field reader: a query string's repeated names, and a
body's media type and JSON shape."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from kuledger.domain.errors import InvalidInput
from kuledger.http.body import body_fields
from kuledger.http.errors import UnsupportedMediaType
from kuledger.http.params import query_fields


def test_a_query_parameter_given_twice_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        query_fields(QueryParams("pageSize=10&currency=BTC&pageSize=20"))
    assert (caught.value.field, caught.value.message) == (
        "pageSize",
        "pageSize is given more than once",
    )


def test_query_values_are_read_as_given() -> None:
    fields = query_fields(QueryParams("currency=BTC%2CETH&pageSize=10&bizType="))
    assert fields.codes("currency") == ("BTC", "ETH")
    assert fields.integer("pageSize") == 10
    assert fields.text("bizType") is None


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form"])
def test_a_body_must_be_json(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        body_fields(b"{}", content_type)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "the request body is not valid JSON"),
        (b"", "the request body must be a JSON object"),
        (b"[]", "the request body must be a JSON object"),
        (b"null", "the request body must be a JSON object"),
    ],
)
def test_a_body_must_be_a_json_object(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        body_fields(raw, "application/json; charset=utf-8")
    assert (caught.value.field, caught.value.message) == ("body", message)


def test_a_body_is_read_with_the_body_rules() -> None:
    fields = body_fields(b'{"clientOid": "", "amount": "1"}', "Application/JSON")
    assert fields.text("clientOid") is None
    assert fields.raw_amount("amount") == "1"
