"""Sub-accounts over the KuCoin API, in process on both engines: only a
master manages its own subs, one master never sees another's, the keys it
issues work (and stop working), and the balances shown are the ledger's."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import assert_error, ok_data
from tests.support.server import ApiUser, Server

CREATE = "/api/v2/sub/user/created"
KEYS = "/api/v1/sub/api-key"
SUB_TRANSFER = "/api/v2/accounts/sub-transfer"
EVERY_PERMISSION = "General,Spot,Margin,Futures,FlexTransfers"


def _name() -> str:
    return f"sub{uuid.uuid4().hex[:10]}9"


@dataclass
class Family:
    master: ApiUser
    sub_uid: str
    sub_name: str


def make_master(api: Server, funded: str = "100") -> ApiUser:
    uid = f"master-{uuid.uuid4().hex[:8]}"
    user = api.add_user(uid, permissions=EVERY_PERMISSION)
    api.cli.post(
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": "d1",
                "currency": "USDT",
                "amount": funded,
            }
        ]
    )
    return user


def create_sub(api: Server, master: ApiUser, name: str, **extra: str) -> Any:
    body = {"subName": name, "password": "abc12345", "access": "Spot", **extra}
    return api.signed(master, "POST", CREATE, json.dumps(body))


@pytest.fixture
def family(module_api: Server) -> Family:
    master = make_master(module_api)
    name = _name()
    created = ok_data(create_sub(module_api, master, name, remarks="first"))
    return Family(master, str(created["uid"]), name)


def post(api: Server, user: ApiUser, path: str, **body: Any) -> Any:
    return api.signed(user, "POST", path, json.dumps(body))


def transfer(api: Server, user: ApiUser, sub_uid: str, **fields: str) -> Any:
    body = {
        "clientOid": uuid.uuid4().hex,
        "currency": "USDT",
        "subUserId": sub_uid,
        **fields,
    }
    return api.signed(user, "POST", SUB_TRANSFER, json.dumps(body))


def balances(api: Server, user: ApiUser) -> dict[tuple[str, str], str]:
    accounts = ok_data(api.signed(user, "GET", "/api/v1/accounts"))
    return {(a["type"], a["currency"]): a["balance"] for a in accounts}


# --- creating and listing ---


def test_a_created_sub_is_listed_by_its_master_in_both_lists(module_api, family):
    page = ok_data(module_api.signed(family.master, "GET", "/api/v2/sub/user"))
    assert (page["totalNum"], page["totalPage"], page["currentPage"]) == (1, 1, 1)
    [item] = page["items"]
    assert item["userId"] == family.sub_uid == str(item["uid"])
    assert (item["subName"], item["remarks"], item["access"]) == (
        family.sub_name,
        "first",
        "Spot",
    )
    assert item["tradeTypes"] == ["Spot"]
    [v1] = ok_data(module_api.signed(family.master, "GET", "/api/v1/sub/user"))
    assert {k: v1[k] for k in ("userId", "subName")} == {
        "userId": family.sub_uid,
        "subName": family.sub_name,
    }


def test_pages_of_sub_accounts_are_oldest_first_with_true_totals(module_api):
    master = make_master(module_api)
    names = [_name() for _ in range(3)]
    for name in names:
        ok_data(create_sub(module_api, master, name))
    page2 = ok_data(
        module_api.signed(master, "GET", "/api/v2/sub/user?pageSize=2&currentPage=2")
    )
    assert (page2["totalNum"], page2["totalPage"]) == (3, 2)
    assert [i["subName"] for i in page2["items"]] == names[2:]
    beyond = ok_data(module_api.signed(master, "GET", "/api/v2/sub/user?currentPage=9"))
    assert (beyond["items"], beyond["totalNum"]) == ([], 3)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subName": "short1"}, "subName"),
        ({"subName": "onlyletters"}, "subName"),
        ({"subName": "with space1"}, "subName"),
        ({"password": "12345678"}, "password"),
        ({"password": "abc"}, "password"),
        ({"access": "Options"}, "access"),
        ({"remarks": "x" * 25}, "remarks"),
    ],
)
def test_a_bad_creation_is_400100_and_creates_nothing(module_api, change, field):
    master = make_master(module_api)
    body = {"subName": _name(), "password": "abc12345", "access": "Spot", **change}
    refused = module_api.signed(master, "POST", CREATE, json.dumps(body))
    assert field in assert_error(refused, 200, "400100")
    page = ok_data(module_api.signed(master, "GET", "/api/v2/sub/user"))
    assert page["totalNum"] == 0


def test_a_master_cannot_reuse_a_sub_name_but_another_master_can(module_api, family):
    again = create_sub(module_api, family.master, family.sub_name)
    assert_error(again, 200, "400100", msg_contains="already used")
    other = make_master(module_api)
    ok_data(create_sub(module_api, other, family.sub_name))


def test_margin_and_futures_enabled_show_in_trade_types(module_api, family):
    uid = family.sub_uid
    ok_data(post(module_api, family.master, "/api/v3/sub/user/margin/enable", uid=uid))
    [item] = ok_data(module_api.signed(family.master, "GET", "/api/v2/sub/user"))[
        "items"
    ]
    assert item["tradeTypes"] == item["openedTradeTypes"] == ["Spot", "Margin"]
    path = "/api/v3/sub/user/futures/enable"
    ok_data(post(module_api, family.master, path, uid=uid))
    ok_data(post(module_api, family.master, path, uid=uid))  # again: no change
    [item] = ok_data(module_api.signed(family.master, "GET", "/api/v2/sub/user"))[
        "items"
    ]
    assert item["tradeTypes"] == ["Spot", "Margin", "Futures"]


# --- who may see what ---


def test_a_sub_accounts_key_may_manage_no_sub_accounts(module_api, family):
    sub = module_api.add_key(family.sub_uid, permissions=EVERY_PERMISSION)
    for method, path, body in [
        ("GET", "/api/v2/sub/user", ""),
        ("GET", "/api/v1/sub/user", ""),
        ("GET", "/api/v1/sub-accounts", ""),
        ("GET", "/api/v2/sub-accounts", ""),
        ("GET", "/api/v1/account-overview-all", ""),
        ("GET", f"/api/v1/sub-accounts/{family.sub_uid}", ""),
        ("POST", CREATE, json.dumps({"subName": _name(), "password": "abc12345",
                                     "access": "Spot"})),
        ("GET", f"{KEYS}?subName={family.sub_name}", ""),
    ]:  # fmt: skip
        refused = module_api.signed(sub, method, path, body)
        assert_error(refused, 403, "400007", msg_contains="only a master")


def test_one_master_never_reaches_anothers_sub(module_api, family):
    other = make_master(module_api)
    sub_uid, name = family.sub_uid, family.sub_name
    detail = module_api.signed(other, "GET", f"/api/v1/sub-accounts/{sub_uid}")
    assert_error(detail, 200, "400100", msg_contains="not a sub-account")
    enable = post(module_api, other, "/api/v3/sub/user/margin/enable", uid=sub_uid)
    assert_error(enable, 200, "400100")
    keys = module_api.signed(other, "GET", f"{KEYS}?subName={name}")
    assert_error(keys, 200, "400100", msg_contains="does not exist")
    made = post(
        module_api, other, KEYS, subName=name, remark="x", passphrase="pass12345"
    )
    assert_error(made, 200, "400100")
    moved = transfer(module_api, other, sub_uid, amount="1", direction="OUT")
    assert_error(moved, 200, "400100", msg_contains="not a sub-account")
    for path in ("/api/v2/sub/user", "/api/v2/sub-accounts"):
        assert ok_data(module_api.signed(other, "GET", path))["items"] == []
    for path in ("/api/v1/sub/user", "/api/v1/sub-accounts"):
        assert ok_data(module_api.signed(other, "GET", path)) == []
    assert balances(module_api, other) == {("main", "USDT"): "100"}


# --- transfers and balances ---


def test_a_sub_transfer_moves_balance_on_both_sides_once(module_api, family):
    api, master, sub_uid = module_api, family.master, family.sub_uid
    oid = uuid.uuid4().hex
    body = {
        "clientOid": oid,
        "currency": "USDT",
        "amount": "30",
        "direction": "OUT",
        "subUserId": sub_uid,
        "subAccountType": "TRADE",
    }
    first = ok_data(api.signed(master, "POST", SUB_TRANSFER, json.dumps(body)))
    again = ok_data(api.signed(master, "POST", SUB_TRANSFER, json.dumps(body)))
    assert first == again  # clientOid: the replay writes nothing
    ok_data(transfer(api, master, sub_uid, amount="4", direction="IN",
                     subAccountType="TRADE", accountType="TRADE"))  # fmt: skip
    assert balances(api, master) == {("main", "USDT"): "70", ("trade", "USDT"): "4"}
    detail = ok_data(api.signed(master, "GET", f"/api/v1/sub-accounts/{sub_uid}"))
    [trade] = detail["tradeAccounts"]
    assert (trade["currency"], trade["balance"], trade["available"]) == (
        "USDT",
        "26",
        "26",
    )
    assert detail["mainAccounts"] == []  # no balance: hidden by default
    too_much = transfer(api, master, sub_uid, amount="1000", direction="OUT")
    assert_error(too_much, 200, "200004")


def test_balances_are_valued_in_the_base_currency(module_api, family):
    api, master = module_api, family.master
    ok_data(transfer(api, master, family.sub_uid, amount="30", direction="OUT"))
    path = f"/api/v1/sub-accounts/{family.sub_uid}"
    [main] = ok_data(api.signed(master, "GET", path))["mainAccounts"]
    # 1 BTC is 60000 USDT in the static catalogue; 30 / 60000, 8 places
    assert (main["baseCurrency"], main["baseCurrencyPrice"], main["baseAmount"]) == (
        "BTC",
        "60000",
        "0.0005",
    )
    richer = ok_data(api.signed(master, "GET", path + "?baseAmount=0.001"))
    assert richer["mainAccounts"] == []
    [listed] = ok_data(api.signed(master, "GET", "/api/v1/sub-accounts"))
    [page] = ok_data(api.signed(master, "GET", "/api/v2/sub-accounts"))["items"]
    assert listed == page == {**ok_data(api.signed(master, "GET", path))}


def test_futures_balances_list_the_master_and_each_sub(module_api, family):
    api, master = module_api, family.master
    ok_data(transfer(api, master, family.sub_uid, amount="7.5", direction="OUT",
                     subAccountType="CONTRACT"))  # fmt: skip
    response = api.signed(master, "GET", "/api/v1/account-overview-all?currency=USDT")
    assert '"accountEquity":7.5' in response.text  # a JSON number, exact
    data = ok_data(response)
    assert [(a["accountName"], a["availableBalance"]) for a in data["accounts"]] == [
        ("main", 0),
        (family.sub_name, 7.5),
    ]
    assert data["summary"]["accountEquityTotal"] == 7.5


# --- sub-account API keys ---


def test_a_sub_key_works_until_it_is_deleted(module_api, family):
    api, master, name = module_api, family.master, family.sub_name
    made = ok_data(
        post(api, master, KEYS, subName=name, remark="bot", passphrase="pass12345",
             permission="General,Trade", ipWhitelist="127.0.0.1,10.0.0.0/8")
    )  # fmt: skip
    assert (made["permission"], made["passphrase"], made["apiVersion"]) == (
        "General,Spot",
        "pass12345",
        3,
    )
    sub = ApiUser(family.sub_uid, made["apiKey"], made["apiSecret"], "pass12345")
    ok_data(transfer(api, master, family.sub_uid, amount="5", direction="OUT"))
    assert balances(api, sub) == {("main", "USDT"): "5"}  # the sub's own data
    assert made["apiSecret"] not in api.log()
    [listed] = ok_data(api.signed(master, "GET", f"{KEYS}?subName={name}"))
    assert "apiSecret" not in listed
    assert (listed["apiKey"], listed["remark"], listed["isMaster"]) == (
        made["apiKey"],
        "bot",
        False,
    )
    assert listed["ipWhitelist"] == "127.0.0.1/32,10.0.0.0/8"
    changed = ok_data(
        post(api, master, f"{KEYS}/update", subName=name, apiKey=made["apiKey"],
             passphrase="pass12345", permission="General,InnerTransfer")
    )  # fmt: skip
    assert changed["permission"] == "General,InnerTransfer"
    spot = {"clientOid": "x", "currency": "USDT", "amount": "1", "from": "main",
            "to": "trade"}  # fmt: skip
    refused = api.signed(sub, "POST", "/api/v2/accounts/inner-transfer",
                         json.dumps(spot))  # fmt: skip
    assert_error(refused, 403, "400007")  # Spot was taken away
    query = f"{KEYS}?subName={name}&apiKey={made['apiKey']}&passphrase=wrong1234"
    assert_error(api.signed(master, "DELETE", query), 200, "400100", "passphrase")
    right = query.replace("wrong1234", "pass12345")
    deleted = ok_data(api.signed(master, "DELETE", right))
    assert deleted == {"subName": name, "apiKey": made["apiKey"]}
    assert_error(api.signed(sub, "GET", "/api/v1/accounts"), 401, "400003")
    assert ok_data(api.signed(master, "GET", f"{KEYS}?subName={name}")) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"passphrase": "short"}, "passphrase"),
        ({"passphrase": "has space1"}, "passphrase"),
        ({"permission": "General,Withdraw"}, "permission"),
        ({"ipWhitelist": "not-an-ip"}, "ip"),
        ({"expire": "7"}, "expire"),
        ({"remark": "r" * 25}, "remark"),
    ],
)
def test_a_bad_sub_key_request_is_400100_and_issues_nothing(
    module_api, family, change, field
):
    body = {"subName": family.sub_name, "remark": "r", "passphrase": "pass12345"}
    refused = post(module_api, family.master, KEYS, **{**body, **change})
    assert field in assert_error(refused, 200, "400100")
    listed = module_api.signed(
        family.master, "GET", f"{KEYS}?subName={body['subName']}"
    )
    assert ok_data(listed) == []
