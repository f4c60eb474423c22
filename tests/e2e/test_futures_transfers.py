"""The deprecated futures transfers (POST /api/v3/transfer-out, POST
/api/v1/transfer-in, GET /api/v1/transfer-list) in process on both engines,
each answer checked against the database."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.api import assert_error, ok_data
from tests.support.db_view import balance, db_ledger
from tests.support.server import ApiUser, Server

OUT = "/api/v3/transfer-out"
IN = "/api/v1/transfer-in"
LIST = "/api/v1/transfer-list"


@pytest.fixture
def user(module_api: Server) -> ApiUser:
    uid = f"futx-{uuid.uuid4().hex[:8]}"
    made = module_api.add_user(uid, permissions="General,Futures")
    deposit = {"op": "deposit", "uid": uid, "id": "d1", "currency": "USDT"}
    module_api.cli.post([{**deposit, "amount": "100"}])
    return made


def post(api: Server, user: ApiUser, path: str, body: str):  # type: ignore[no-untyped-def]
    return api.signed(user, "POST", path, body)


def test_in_and_out_move_both_sides_and_list_the_transfers_out(module_api, user):
    api = module_api
    # A JSON number, read from its text: 12.3 is not the float 12.2999...
    got = post(
        api, user, IN, '{"currency":"USDT","amount":12.3,"payAccountType":"MAIN"}'
    )
    assert got.json() == {"code": "200000", "data": None}
    assert (balance(api, user.uid, "main"), balance(api, user.uid, "contract")) == (
        "87.7",
        "12.3",
    )
    out = ok_data(
        post(
            api, user, OUT, '{"currency":"USDT","amount":2.5,"recAccountType":"TRADE"}'
        )
    )
    assert (out["payAccountType"], out["recAccountType"], out["status"]) == (
        "CONTRACT",
        "TRADE",
        "SUCCESS",
    )
    assert (out["currency"], out["amount"], out["fee"]) == ("USDT", "2.5", "0")
    assert len(out["applyId"]) == 24 and out["createdAt"] == out["updatedAt"]
    assert (balance(api, user.uid, "contract"), balance(api, user.uid, "trade")) == (
        "9.8",
        "2.5",
    )
    # A decimal string is taken too, and each call is a new transfer (no clientOid).
    body = json.dumps({"currency": "USDT", "amount": "1", "recAccountType": "MAIN"})
    first, second = (ok_data(post(api, user, OUT, body)) for _ in range(2))
    assert first["applyId"] != second["applyId"]
    assert balance(api, user.uid, "contract") == "7.8"

    page = ok_data(api.signed(user, "GET", f"{LIST}?currency=USDT&pageSize=2"))
    assert (page["currentPage"], page["pageSize"], page["totalNum"]) == (1, 2, 3)
    assert page["totalPage"] == 2
    assert [i["applyId"] for i in page["items"]] == [
        second["applyId"],
        first["applyId"],
    ]
    last = ok_data(api.signed(user, "GET", f"{LIST}?currentPage=2&pageSize=2"))
    [oldest] = last["items"]
    assert (oldest["applyId"], oldest["amount"], oldest["status"]) == (
        out["applyId"],
        "2.5",
        "SUCCESS",
    )
    assert oldest["offset"] == out["sn"]
    entries = {e["id"]: e for e in db_ledger(api, user.uid)}
    assert entries[str(oldest["offset"])]["accountType"] == "CONTRACT"
    none = ok_data(api.signed(user, "GET", f"{LIST}?currency=BTC"))
    assert (none["totalNum"], none["items"]) == (0, [])


def test_insufficient_balance_is_200004_and_writes_nothing(module_api, user):
    before = db_ledger(module_api, user.uid)
    refused = post(
        module_api,
        user,
        OUT,
        '{"currency":"USDT","amount":1,"recAccountType":"MAIN"}',
    )
    assert_error(refused, 200, "200004")
    too_much = '{"currency":"USDT","amount":100.01,"payAccountType":"TRADE"}'
    assert_error(post(module_api, user, IN, too_much), 200, "200004")
    assert db_ledger(module_api, user.uid) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (IN, '{"currency":"USDT","payAccountType":"MAIN"}'),
        (IN, '{"currency":"USDT","amount":1,"payAccountType":"CONTRACT"}'),
        (IN, '{"currency":"USDT","amount":-1,"payAccountType":"MAIN"}'),
        (IN, '{"currency":"USDT","amount":true,"payAccountType":"MAIN"}'),
        (IN, '{"currency":"USDT","amount":1e999,"payAccountType":"MAIN"}'),
        (IN, '{"currency":"USDT","amount":1e-50,"payAccountType":"MAIN"}'),
        # exact, so too precise (a float would have rounded it to 0.1)
        (
            IN,
            '{"currency":"USDT","amount":0.1000000000000000055,"payAccountType":"MAIN"}',
        ),
        (OUT, '{"currency":"USDT","amount":1,"recAccountType":"MARGIN"}'),
        (OUT, '{"amount":1,"recAccountType":"MAIN"}'),
        (OUT, "[1]"),
    ],
)
def test_bad_input_is_400100_and_writes_nothing(module_api, user, path, body):
    before = db_ledger(module_api, user.uid)
    assert_error(post(module_api, user, path, body), 200, "400100")
    assert db_ledger(module_api, user.uid) == before


@pytest.mark.parametrize(
    "query", ["startAt=10&endAt=5", "currentPage=0", "pageSize=501", "type=CONTRACT"]
)
def test_bad_list_parameters_are_400100(module_api, user, query):
    assert_error(module_api.signed(user, "GET", f"{LIST}?{query}"), 200, "400100")


def test_the_transfers_need_the_futures_permission(module_api):
    uid = f"futx-{uuid.uuid4().hex[:8]}"
    general = module_api.add_user(uid)
    body = '{"currency":"USDT","amount":1,"payAccountType":"MAIN"}'
    assert_error(post(module_api, general, IN, body), 403, "400007")
    ok_data(module_api.signed(general, "GET", LIST))  # the list is General
