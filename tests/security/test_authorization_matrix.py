"""Authorization, table-driven from ENDPOINTS so a new endpoint is covered:
missing permissions, other users' ids and cursors, replayed requests and
revoked keys on a server with two workers."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from kuledger.domain.users import Permission
from kuledger.http.endpoints import ENDPOINTS
from kuledger.http.routing import Endpoint
from tests.security.checks import endpoint_label, envelope_problems
from tests.support.api import assert_error, new_uid, ok_data, signed_headers
from tests.support.server import ApiUser, Server, live_server

SIGNED = [e for e in ENDPOINTS if e.signed]
FLEX = "/api/v3/accounts/universal-transfer"
INNER = "/api/v2/accounts/inner-transfer"
ACCOUNTS = "/api/v1/accounts"
WITHDRAW = "/api/v3/withdrawals"
ALL = ",".join(p.value for p in Permission)


def flex_body(**fields: str) -> dict[str, str]:
    return {
        "clientOid": uuid.uuid4().hex,
        "currency": "USDT",
        "amount": "1",
        "fromAccountType": "MAIN",
        "toAccountType": "TRADE",
        "type": "INTERNAL",
        **fields,
    }


def inner_body(**fields: str) -> dict[str, str]:
    return {
        "clientOid": uuid.uuid4().hex,
        "currency": "USDT",
        "amount": "1",
        "from": "main",
        "to": "trade",
        **fields,
    }


@dataclass
class Holdings:
    """What one user owns, as ids the API shows them."""

    user: ApiUser
    sub: str
    account_ids: set[str] = field(default_factory=set)
    entry_ids: set[str] = field(default_factory=set)  # every ledger's ids
    order_ids: set[str] = field(default_factory=set)
    client_oids: list[str] = field(default_factory=list)
    hf_last: dict[str, int] = field(default_factory=dict)  # path -> an id
    withdrawal_ids: list[str] = field(default_factory=list)  # pending: cancellable


HF_LEDGERS = ("/api/v1/hf/accounts/ledgers", "/api/v3/hf/margin/account/ledgers")
FUTURES = "/api/v1/transaction-history"
SPOT_LEDGER = "/api/v1/accounts/ledgers"


def _items(path: str, data: Any) -> list[dict[str, Any]]:
    if path == SPOT_LEDGER:
        return list(data["items"])
    if path == FUTURES:
        return list(data["dataList"])
    return list(data) if isinstance(data, list) else []


def _entry_id(path: str, item: dict[str, Any]) -> str:
    return str(item["offset"] if path == FUTURES else item["id"])


LEDGER_PATHS = (SPOT_LEDGER, *HF_LEDGERS, FUTURES)


def _populate(server: Server, name: str) -> Holdings:
    user = server.add_user(new_uid(name), permissions=ALL)
    sub = new_uid(name + "sub")
    server.add_user(sub, parent=user.uid)
    server.cli.post(
        [
            {"op": "deposit", "uid": user.uid, "id": "d", "currency": "USDT"}
            | {"amount": "100"}
        ]
    )
    held = Holdings(user, sub)
    moves = [
        (INNER, inner_body(to="trade_hf")),
        (INNER, inner_body(to="contract")),
        (FLEX, flex_body(toAccountType="MARGIN_V2")),
        (FLEX, flex_body(type="PARENT_TO_SUB", toUserId=sub, toAccountType="MAIN")),
        (INNER, inner_body(to="trade")),
    ]
    for path, body in moves:
        data = ok_data(server.signed(user, "POST", path, json.dumps(body)))
        held.order_ids.add(data["orderId"])
        held.client_oids.append(body["clientOid"])
    withdrawal = {"currency": "USDT", "amount": "1", "toAddress": "0xauth"}
    withdrawal |= {"withdrawType": "ADDRESS"}
    made = server.signed(user, "POST", WITHDRAW, json.dumps(withdrawal))
    held.withdrawal_ids.append(str(ok_data(made)["withdrawalId"]))
    for account in ok_data(server.signed(user, "GET", ACCOUNTS)):
        held.account_ids.add(account["id"])
    for path in LEDGER_PATHS:
        items = _items(path, ok_data(server.signed(user, "GET", path)))
        assert items, path
        held.entry_ids |= {_entry_id(path, item) for item in items}
        if path in HF_LEDGERS or path == FUTURES:
            held.hf_last[path] = max(int(_entry_id(path, i)) for i in items) + 1
    return held


@dataclass
class World:
    server: Server
    a: Holdings
    b: Holdings


@pytest.fixture(scope="module")
def world(unlimited_api: Server) -> World:
    return World(
        unlimited_api,
        _populate(unlimited_api, "authA"),
        _populate(unlimited_api, "authB"),
    )


def _assert_nothing_of_b(
    world: World, path: str, response: httpx.Response, sent: str = ""
) -> None:
    """Nothing of B's in A's answer, beyond the value A itself sent."""
    assert not envelope_problems(response), response.text
    body = response.json()
    text = response.text.replace(sent, "") if sent else response.text
    for secret in (world.b.user.uid, world.b.sub, *world.b.account_ids):
        assert secret not in text, (path, text[:300])
    for order in world.b.order_ids:
        assert order not in text, (path, text[:300])
    if body["code"] == "200000":
        base = path.split("?")[0]
        if base in LEDGER_PATHS:
            for item in _items(base, body["data"]):
                assert _entry_id(base, item) not in world.b.entry_ids - (
                    world.a.entry_ids
                ), (path, item)


# --- 1. a key without the endpoint's permission ---


PERMISSION_CASES = [pytest.param(e, id=endpoint_label(e)) for e in SIGNED]


@pytest.mark.parametrize("endpoint", PERMISSION_CASES)
def test_a_key_lacking_the_permission_is_400007(world, endpoint):
    assert endpoint.permission is not None
    others = ",".join(p.value for p in Permission if p is not endpoint.permission)
    key = world.server.add_key(world.a.user.uid, permissions=others)
    path = endpoint.path.replace("{accountId}", next(iter(world.a.account_ids)))
    body = ""
    if endpoint.path == FLEX:
        body = json.dumps(flex_body())
    elif endpoint.path == INNER:
        body = json.dumps(inner_body())
    response = world.server.signed(key, endpoint.method, path, body)
    assert_error(response, 403, "400007")


# --- 2. user A with user B's ids ---


def _id_cases() -> list[Any]:
    """(endpoint, where, name, kind): every place an endpoint takes an id."""
    cases = []
    for e in SIGNED:
        for p in e.params:
            if p["in"] == "path" and p["name"] == "subUserId":  # B, or B's sub
                cases += [(e, "path", p["name"], k) for k in ("user", "sub")]
            elif p["in"] == "path" and p["name"] in ("withdrawalId", "symbol"):
                cases.append((e, "path", p["name"], p["name"]))
            elif p["in"] == "path":
                cases.append((e, "path", p["name"], "account"))
            elif p["name"] in ("lastId", "offset"):
                cases.append((e, "query", p["name"], "cursor"))
        if e.path == FLEX:
            for name in ("fromUserId", "toUserId"):
                cases += [(e, "body", name, "user"), (e, "body", name, "sub")]
        if e.path in (FLEX, INNER):
            cases.append((e, "body", "clientOid", "client_oid"))
    return [pytest.param(*c, id=f"{endpoint_label(c[0])} {c[2]}={c[3]}") for c in cases]


ID_CASES = _id_cases()


def test_every_id_taking_endpoint_is_in_the_matrix():
    covered = {c.values[0].path for c in ID_CASES}
    for e in SIGNED:
        takes_ids = any(
            p["in"] == "path" or p["name"] in ("lastId", "offset") for p in e.params
        )
        if takes_ids or e.path in (FLEX, INNER):
            assert e.path in covered, e.path


def _b_values(world: World, e: Endpoint, kind: str) -> list[str]:
    b = world.b
    if kind == "account":
        return sorted(b.account_ids)
    if kind == "cursor":
        return [str(b.hf_last.get(e.path, 1)), *sorted(b.entry_ids)[:3]]
    if kind == "user":
        return [b.user.uid]
    if kind == "sub":
        return [b.sub]
    if kind == "withdrawalId":
        return b.withdrawal_ids
    if kind == "symbol":  # A's own isolated account of a symbol B holds too
        return ["BTC-USDT"]
    return list(b.client_oids)


@pytest.mark.parametrize(("endpoint", "where", "name", "kind"), ID_CASES)
def test_a_cannot_reach_b_by_id(world, endpoint, where, name, kind):
    s, a = world.server, world.a.user
    b_before = ok_data(s.signed(world.b.user, "GET", ACCOUNTS))
    values = _b_values(world, endpoint, kind)
    assert values
    for value in values:
        path, body = endpoint.path, ""
        if where == "path":
            path = path.replace("{" + name + "}", value)
        elif where == "query":
            path = f"{path}?{name}={value}"
        elif endpoint.path == FLEX:
            kind_of = "PARENT_TO_SUB" if name == "toUserId" else "SUB_TO_PARENT"
            fields = {name: value, "type": kind_of, "toAccountType": "MAIN"}
            if kind == "client_oid":
                fields = {"clientOid": value}
            body = json.dumps(flex_body(**fields))
        else:
            body = json.dumps(inner_body(clientOid=value))
        response = s.signed(a, endpoint.method, path, body)
        _assert_nothing_of_b(world, path, response, value)
        code = response.json()["code"]
        if kind in ("account",):
            assert code == "230008", response.text
        elif kind in ("user", "sub", "withdrawalId"):
            assert code == "400100", response.text
        elif kind == "symbol":
            assert code == "200000", response.text
        elif kind == "client_oid":
            # B's clientOid is a fresh one for A: a new order of A's own
            assert code in ("200000", "400100"), response.text
            if code == "200000":
                order = response.json()["data"]["orderId"]
                assert order not in world.b.order_ids
                world.a.order_ids.add(order)
    assert ok_data(s.signed(world.b.user, "GET", ACCOUNTS)) == b_before


@pytest.mark.parametrize(
    "endpoint",
    [pytest.param(e, id=endpoint_label(e)) for e in SIGNED if e.method == "GET"],
)
def test_no_b_entry_in_any_response_of_a(world, endpoint):
    account = next(iter(world.b.account_ids))
    path = endpoint.path.replace("{accountId}", account)
    response = world.server.signed(world.a.user, "GET", path)
    _assert_nothing_of_b(world, path, response, account)


# --- 3. replay outside the timestamp window ---


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
def test_a_replayed_request_outside_5_s_is_400002(world):
    s, a = world.server, world.a.user
    captured = []
    for e in SIGNED:
        path = e.path.replace("{accountId}", next(iter(world.a.account_ids)))
        body = ""
        if e.path == FLEX:
            body = json.dumps(flex_body())
        elif e.path == INNER:
            body = json.dumps(inner_body())
        headers = signed_headers(a, e.method, path, body)
        headers["Content-Type"] = "application/json"
        captured.append((e, path, body, headers))
    for e, path, body, headers in captured:
        first = s.http.request(
            e.method, s.base_url + path, headers=headers, content=body.encode() or None
        )
        assert not envelope_problems(first)
        assert first.json()["code"] not in ("400002", "400005"), (e.path, first.text)
    time.sleep(5.6)
    for e, path, body, headers in captured:
        again = s.http.request(
            e.method, s.base_url + path, headers=headers, content=body.encode() or None
        )
        assert_error(again, 400, "400002")


# --- 4. revocation on every worker ---
# Needs a socket: two `kuledger serve` worker processes, each with its own cache.


@pytest.mark.slow
def test_a_revoked_key_stops_at_once_on_every_worker(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with live_server(url, tmp_path, workers=2) as s:
        user = s.add_user(new_uid("revoke"))

        def fresh_get() -> httpx.Response:
            headers = signed_headers(user, "GET", ACCOUNTS)
            with httpx.Client(timeout=10) as client:  # a new connection each time
                return client.get(s.base_url + ACCOUNTS, headers=headers)

        for _ in range(20):
            ok_data(fresh_get())  # both workers have seen (and cached) the key
        s.cli.run("keys", "revoke", user.key)
        for _ in range(20):
            assert_error(fresh_get(), 401, "400003")
