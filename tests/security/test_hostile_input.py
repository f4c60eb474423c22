"""Hostile input against the application: deep and wide bodies, SQL
metacharacters in every parameter, integer overflow, duplicated parameters and
traversal in an id. Never a 500, always the envelope, and the data intact.
What only a socket carries (huge bodies on the wire, header injection, invalid
UTF-8, raw paths) is in test_hostile_wire.py."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from kuledger.http.app import MAX_BODY_BYTES
from kuledger.http.endpoints import ENDPOINTS
from kuledger.http.routing import Endpoint
from tests.security.checks import Pair, endpoint_label, envelope_problems, make_pair
from tests.support.api import LEDGER, assert_error, new_uid, ok_data
from tests.support.server import ApiUser, Server

INNER = "/api/v2/accounts/inner-transfer"
FLEX = "/api/v3/accounts/universal-transfer"
POSTS = [e for e in ENDPOINTS if e.method == "POST"]
SIGNED = [e for e in ENDPOINTS if e.signed]
BODY_FIELDS = {
    FLEX: (
        "clientOid",
        "currency",
        "amount",
        "fromAccountType",
        "toAccountType",
        "type",
        "fromUserId",
        "toUserId",
    ),
    INNER: ("clientOid", "currency", "amount", "from", "to"),
}
SQL = ["' OR 1=1 --", "%", "_", ";DROP TABLE entries", '" OR ""="', "1; SELECT 1"]
NUMERIC = ("startAt", "endAt", "pageSize", "currentPage", "lastId", "limit")
NUMERIC += ("offset", "maxCount")
HUGE = [str(2**63), str(2**63 - 1), str(10**40), "-1", "-" + str(2**63), "1e3"]


@pytest.fixture(scope="module")
def pair(unlimited_api: Server) -> Pair:
    return make_pair(unlimited_api)


def _ok_or_refused(response: Any, allowed: tuple[str, ...] = ("400100",)) -> Any:
    assert not envelope_problems(response), (response.status_code, response.text)
    body = response.json()
    assert body["code"] in ("200000", *allowed), body
    return body


# --- bodies: deep, wide, huge ---


@pytest.mark.parametrize("endpoint", POSTS, ids=endpoint_label)
@pytest.mark.parametrize(
    "body",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"amount":' + "[" * 5000 + "]" * 5000 + "}",
        "[" + ",".join(["1"] * 30_000) + "]",  # ~60 KiB
        '{"currency":[' + ",".join(['"x"'] * 15_000) + "]}",
        '{"clientOid":"' + "x" * 60_000 + '"}',
    ],
    ids=["deep-array", "deep-object", "deep-field", "wide-array", "wide-field", "long"],
)
def test_deep_and_wide_bodies_are_refused_cleanly(unlimited_api, pair, endpoint, body):
    assert len(body.encode()) <= MAX_BODY_BYTES
    response = unlimited_api.signed(pair.a, "POST", endpoint.path, body)
    _ok_or_refused(response)
    if endpoint.path in BODY_FIELDS:
        assert response.json()["code"] == "400100"


# --- SQL metacharacters, in every parameter of every endpoint ---


def _places(e: Endpoint) -> list[tuple[str, str]]:
    places = [(p["in"], p["name"]) for p in e.params]
    places += [("body", name) for name in BODY_FIELDS.get(e.path, ())]
    return places


SQL_CASES = [
    pytest.param(
        e, where, name, value, id=f"{endpoint_label(e)} {where}:{name} {value}"
    )
    for e in SIGNED
    for where, name in _places(e)
    for value in SQL
]


def _call(server: Server, user: ApiUser, e: Endpoint, where: str, name: str, v):
    path, query, body = e.path, "", ""
    if where == "path":
        path = path.replace("{" + name + "}", quote(v, safe=""))
    elif where == "query":
        query = f"?{name}={quote(v, safe='')}"
        path = re.sub(r"\{[^{}]+\}", "x", path)  # some id in the path
    else:
        fields = {
            "clientOid": new_uid("sql"),
            "currency": "USDT",
            "amount": "0.01",
            "from": "main",
            "to": "trade",
            "fromAccountType": "MAIN",
            "toAccountType": "TRADE",
            "type": "INTERNAL",
        }
        fields = {k: fields[k] for k in BODY_FIELDS[e.path] if k in fields}
        fields[name] = v
        body = json.dumps(fields)
    return server.signed(user, e.method, path + query, body)


def _everything_of(server: Server, user: ApiUser) -> list[Any]:
    """What the user can see: accounts and the spot ledger."""
    accounts = ok_data(server.signed(user, "GET", "/api/v1/accounts"))
    ledger = ok_data(server.signed(user, "GET", LEDGER))["items"]
    return [accounts, ledger]


@pytest.fixture(scope="module")
def b_before(unlimited_api, pair) -> list[Any]:
    return _everything_of(unlimited_api, pair.b)


@pytest.mark.parametrize(("endpoint", "where", "name", "value"), SQL_CASES)
def test_sql_metacharacters_are_plain_values(
    unlimited_api, pair, b_before, endpoint, where, name, value
):
    response = _call(unlimited_api, pair.a, endpoint, where, name, value)
    body = _ok_or_refused(response, ("400100", "230008", "200004"))
    text = response.text
    assert pair.b.uid not in text
    if body["code"] == "200000" and where != "body":
        for b_account in b_before[0]:
            assert b_account["id"] not in text
    # the tables are intact: B's view is unchanged
    assert _everything_of(unlimited_api, pair.b) == b_before


# --- integer overflow ---

OVERFLOW_CASES = [
    pytest.param(e, p["name"], value, id=f"{endpoint_label(e)} {p['name']}={value}")
    for e in ENDPOINTS
    for p in e.params
    if p["name"] in NUMERIC
    for value in HUGE
]


@pytest.mark.parametrize(("endpoint", "name", "value"), OVERFLOW_CASES)
def test_integer_overflow_is_400100_or_empty(
    unlimited_api, pair, endpoint, name, value
):
    response = unlimited_api.signed(pair.a, "GET", f"{endpoint.path}?{name}={value}")
    _ok_or_refused(response)
    if value in (str(10**40), "-1", str(2**63), "-" + str(2**63), "1e3"):
        assert response.json()["code"] == "400100", response.text


# --- duplicated query parameters ---

DUPLICATE_CASES = [
    pytest.param(e, p["name"], id=f"{endpoint_label(e)} {p['name']}")
    for e in ENDPOINTS
    for p in e.params
    if p["in"] == "query"
]


@pytest.mark.parametrize(("endpoint", "name"), DUPLICATE_CASES)
def test_a_duplicated_query_parameter_is_400100(unlimited_api, pair, endpoint, name):
    path = f"{endpoint.path}?{name}=1&{name}=2"
    if endpoint.signed:
        response = unlimited_api.signed(pair.a, "GET", path)
    else:
        response = unlimited_api.http.get(unlimited_api.base_url + path)
    assert_error(response, 200, "400100", msg_contains=name)


@pytest.mark.parametrize(
    "account_id", ["..", "../../etc/passwd", "..%2f..%2fetc", "%00", "' OR 1=1 --"]
)
def test_traversal_in_an_account_id_is_230008(unlimited_api, pair, account_id):
    path = "/api/v1/accounts/" + quote(account_id, safe="").replace(".", "%2E")
    response = unlimited_api.signed(pair.a, "GET", path)
    if "/" in account_id:  # %2F is decoded before routing: no route matches
        assert_error(response, 404, "404000")
    else:
        assert_error(response, 200, "230008")
