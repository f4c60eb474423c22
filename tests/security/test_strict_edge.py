"""Headers and bodies read as strictly as query parameters: ASCII digits in
KC-API-TIMESTAMP, the exact JSON media type, a JSON key given twice refused,
and a clientOid of every length KuCoin allows (128 characters)."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from tests.security.checks import Pair, assert_no_traceback, make_pair
from tests.support.api import LEDGER, assert_error, ok_data, send, signed_headers
from tests.support.server import Server

INNER = "/api/v2/accounts/inner-transfer"
FLEX = "/api/v3/accounts/universal-transfer"
JSON = "application/json"


@pytest.fixture(scope="module")
def pair(unlimited_api: Server) -> Pair:
    return make_pair(unlimited_api)


def _inner(client_oid: str, amount: str = "0.01") -> dict[str, str]:
    return {
        "clientOid": client_oid,
        "currency": "USDT",
        "amount": amount,
        "from": "main",
        "to": "trade",
    }


# --- KC-API-TIMESTAMP ---


@pytest.mark.parametrize(
    "stamp",
    [
        "²".encode("latin-1"),  # isdigit() is true, int() fails
        "¹²³".encode("latin-1"),
        "١٢٣".encode(),  # Arabic-Indic digits, as UTF-8
        "１２３".encode(),  # fullwidth digits
        b"+1",
        b" 1",
        b"1_000",
        b"0x10",
        b"1" * 17,
    ],
    ids=repr,
)
def test_a_timestamp_of_anything_but_ascii_digits_is_400002(unlimited_api, pair, stamp):
    headers: dict[str, str | bytes] = {**signed_headers(pair.a, "GET", LEDGER)}
    headers["KC-API-TIMESTAMP"] = stamp
    response = unlimited_api.http.get(unlimited_api.base_url + LEDGER, headers=headers)
    assert_error(response, 400, "400002", msg_contains="KC-API-TIMESTAMP")
    assert_no_traceback(unlimited_api)


@pytest.mark.parametrize("length", ["²".encode("latin-1"), "١".encode()], ids=repr)
def test_a_content_length_of_non_ascii_digits_is_no_500(unlimited_api, pair, length):
    body = json.dumps(_inner(uuid.uuid4().hex))
    headers: dict[str, str | bytes] = {**signed_headers(pair.a, "POST", INNER, body)}
    headers.update({"Content-Type": JSON, "Content-Length": length})
    response = unlimited_api.http.post(
        unlimited_api.base_url + INNER, headers=headers, content=body.encode()
    )
    assert ok_data(response)["orderId"]
    assert_no_traceback(unlimited_api)


# --- Content-Type ---


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
    ],
)
def test_the_json_media_type_with_parameters_is_accepted(
    unlimited_api, pair, content_type
):
    body = json.dumps(_inner(uuid.uuid4().hex))
    response = unlimited_api.signed(
        pair.a, "POST", INNER, body, headers={"Content-Type": content_type}
    )
    assert ok_data(response)["orderId"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; application/json",
        "application/jsonx",
        "application/json-patch+json",
        "application/x-www-form-urlencoded; a=application/json",
        "xapplication/json",
        "application/json; charset=latin-1",
        "application/json;",
        "application/json, text/plain",
    ],
)
def test_any_other_media_type_is_415000(unlimited_api, pair, content_type):
    body = json.dumps(_inner(uuid.uuid4().hex))
    response = unlimited_api.signed(
        pair.a, "POST", INNER, body, headers={"Content-Type": content_type}
    )
    assert_error(response, 415, "415000", msg_contains="application/json")


# --- duplicate keys ---


@pytest.mark.parametrize("path", [INNER, FLEX])
def test_a_json_key_given_twice_is_400100(unlimited_api, pair, path):
    oid = uuid.uuid4().hex
    # The last "amount" would win: 7 USDT, not the 0.01 a reviewer sees first.
    body = (
        f'{{"clientOid":"{oid}","currency":"USDT","amount":"0.01","amount":"7",'
        '"from":"main","to":"trade","fromAccountType":"MAIN",'
        '"toAccountType":"TRADE","type":"INTERNAL"}'
    )
    response = unlimited_api.signed(pair.a, "POST", path, body)
    assert_error(response, 200, "400100", msg_contains="amount is given more than once")
    # nothing was written: the same clientOid with a clean body goes through
    assert ok_data(unlimited_api.signed(pair.a, "POST", INNER, json.dumps(_inner(oid))))


def test_a_nested_key_given_twice_is_400100(unlimited_api, pair):
    body = json.dumps(_inner(uuid.uuid4().hex))[:-1] + ',"x":{"k":1,"k":2}}'
    response = unlimited_api.signed(pair.a, "POST", INNER, body)
    assert_error(response, 200, "400100", msg_contains="k is given more than once")


def test_a_body_nested_a_thousand_levels_deep_is_400100(unlimited_api, pair):
    body = '{"a":' * 1000 + "1" + "}" * 1000  # orjson reads it, json would recurse
    response = unlimited_api.signed(pair.a, "POST", INNER, body)
    assert_error(response, 200, "400100")
    assert_no_traceback(unlimited_api)


# --- clientOid length ---


@pytest.mark.parametrize("length", [1, 119, 120, 127, 128])
def test_a_client_oid_of_up_to_128_characters_is_accepted(unlimited_api, pair, length):
    oid = (uuid.uuid4().hex * 4)[:length]
    body = json.dumps(_inner(oid))
    first = ok_data(unlimited_api.signed(pair.a, "POST", INNER, body))["orderId"]
    again = ok_data(unlimited_api.signed(pair.a, "POST", INNER, body))["orderId"]
    assert again == first  # a replay, not a second transfer
    other = json.dumps(_inner(oid, amount="0.02"))
    response = unlimited_api.signed(pair.a, "POST", INNER, other)
    assert_error(response, 200, "400100", msg_contains="clientOid")


def test_a_client_oid_of_129_characters_is_400100_naming_it(unlimited_api, pair):
    body = json.dumps(_inner("x" * 129))
    response = unlimited_api.signed(pair.a, "POST", INNER, body)
    message = assert_error(response, 200, "400100")
    assert message == "clientOid must be a string of at most 128 chars"


def test_long_and_short_client_oids_never_share_an_operation(unlimited_api, pair):
    long_oid = uuid.uuid4().hex * 4
    # a short clientOid shaped like the long one's operation id, less "transfer"
    lookalike = "-sha256:" + hashlib.sha256(long_oid.encode()).hexdigest()
    orders = {
        ok_data(unlimited_api.signed(pair.a, "POST", INNER, json.dumps(_inner(oid))))[
            "orderId"
        ]
        for oid in (long_oid, lookalike)
    }
    assert len(orders) == 2


def test_a_raw_header_of_latin1_bytes_is_an_envelope(unlimited_api, pair):
    headers: dict[str, str | bytes] = {**signed_headers(pair.a, "GET", LEDGER)}
    headers["KC-API-KEY"] = "clé-ü".encode("latin-1")
    response = send(unlimited_api, "GET", LEDGER, headers)  # type: ignore[arg-type]
    assert_error(response, 401, "400003")
