"""The account views and fee rates through the API: what each computes from
the ledger, users and keys, the refusals, and that no user sees another's."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.support.api import assert_error, ok_data
from tests.support.kucoin_openapi import location, operations, response_errors
from tests.support.server import ApiUser, Server


def _uid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def _get(server: Server, user: ApiUser, target: str) -> Any:
    return ok_data(server.signed(user, "GET", target))


@pytest.fixture(scope="module")
def family(module_api: Server) -> dict[str, ApiUser]:
    """A master with a margin sub and a futures sub, and a stranger."""
    master = _uid("fam")
    users = {
        "master": module_api.add_user(master, permissions="General,Futures"),
        "margin": module_api.add_user(
            f"{master}-m", parent=master, permissions="General,Margin"
        ),
        "futures": module_api.add_user(
            f"{master}-f", parent=master, permissions="General,Futures"
        ),
        "stranger": module_api.add_user(_uid("str"), permissions="General,Futures"),
    }
    return users


def test_user_info_counts_subs_by_their_live_keys(module_api, family):
    info = _get(module_api, family["master"], "/api/v2/user-info")
    assert (info["subQuantity"], info["marginSubQuantity"]) == (2, 1)
    assert info["futuresSubQuantity"] == 1
    sub = _get(module_api, family["margin"], "/api/v2/user-info")
    assert sub["subQuantity"] == 0
    extra = module_api.add_key(family["futures"].uid, permissions="General,Margin")
    assert (
        _get(module_api, family["master"], "/api/v2/user-info")["marginSubQuantity"]
        == 2
    )
    module_api.cli.run("keys", "revoke", extra.key)
    assert (
        _get(module_api, family["master"], "/api/v2/user-info")["marginSubQuantity"]
        == 1
    )


def test_api_key_info_of_a_sub_names_it(module_api, family):
    info = _get(module_api, family["margin"], "/api/v1/user/api-key")
    assert info["isMaster"] is False and info["subName"] == family["margin"].uid
    assert info["apiKey"] == family["margin"].key
    assert info["permission"] == "General,Margin"
    master = _get(module_api, family["master"], "/api/v1/user/api-key")
    assert master["isMaster"] is True and master["subName"] == ""


def test_futures_overview_needs_the_futures_permission(module_api, family):
    response = module_api.signed(family["margin"], "GET", "/api/v1/account-overview")
    assert_error(response, 403, "400007")


def test_futures_overview_is_the_contract_account_with_its_holds(module_api):
    uid = _uid("fut")
    user = module_api.add_user(uid, permissions="General,Futures")
    module_api.cli.post(
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": "d",
                "currency": "USDT",
                "account": "contract",
                "amount": "90.5",
            },
            {
                "op": "hold",
                "uid": uid,
                "id": "h",
                "currency": "USDT",
                "account": "contract",
                "amount": "10",
            },
        ]
    )
    data = _get(module_api, user, "/api/v1/account-overview?currency=USDT")
    assert (data["accountEquity"], data["availableBalance"]) == (90.5, 80.5)
    assert (data["orderMargin"], data["currency"]) == (10, "USDT")
    xbt = _get(module_api, user, "/api/v1/account-overview")
    assert (xbt["currency"], xbt["accountEquity"]) == ("XBT", 0)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/api/v1/trade-fees", "symbols is required"),
        ("/api/v1/trade-fees?symbols=NOPE-USDT", "symbol not exists"),
        ("/api/v1/trade-fees?symbols=" + ",".join(["BTC-USDT"] * 11), "1..10"),
        ("/api/v1/trade-fees?symbol=NOPEUSDTM", "contract not exists"),
        ("/api/v1/base-fee?currencyType=2", "currencyType"),
        ("/api/v3/margin/accounts?quoteCurrency=EUR", "quoteCurrency"),
        ("/api/v3/isolated/accounts?queryType=MARGIN", "queryType"),
        ("/api/v1/isolated/account/BTC-EUR", "symbol"),
        ("/api/v1/account-overview?currency=NOPE", "currency"),
    ],
)
def test_bad_parameters_are_refused_with_400100(module_api, family, target, message):
    response = module_api.signed(family["stranger"], "GET", target)
    assert_error(response, 200, "400100", message)


def test_futures_trade_fees_match_kucoins_futures_schema(module_api, family):
    [futures] = operations("PATCH", "/api/v1/trade-fees")  # KuCoin's second GET
    assert futures.domain == "Futures"
    body = module_api.signed(
        family["stranger"], "GET", "/api/v1/trade-fees?symbol=ETHUSDTM"
    ).json()
    assert body["data"] == {
        "symbol": "ETHUSDTM",
        "takerFeeRate": "0.0006",
        "makerFeeRate": "0.0002",
    }
    errors = response_errors(futures, body, strict=True)
    assert not errors, [(location(e), e.message) for e in errors]


def test_fee_rates_are_per_user(module_api, family):
    master = family["master"]
    module_api.cli.run(
        "fees", "set", master.uid, "--maker", "0.0007", "--taker", "0.0009"
    )
    mine = _get(module_api, master, "/api/v1/base-fee")
    theirs = _get(module_api, family["stranger"], "/api/v1/base-fee")
    assert mine == {"takerFeeRate": "0.0009", "makerFeeRate": "0.0007"}
    assert theirs == {"takerFeeRate": "0.001", "makerFeeRate": "0.001"}
    module_api.cli.run("fees", "reset", master.uid)
    assert _get(module_api, master, "/api/v1/base-fee") == theirs


def test_fees_set_refuses_bad_rates_and_unknown_users(module_api, family):
    uid = family["master"].uid
    for maker in ("0.2", "1e-3", "0.000000001", "abc"):
        with pytest.raises(AssertionError, match="makerFeeRate"):
            module_api.cli.run("fees", "set", uid, "--maker", maker, "--taker", "0")
    with pytest.raises(AssertionError, match="unknown user"):
        module_api.cli.run("fees", "set", "nobody-x", "--maker", "0", "--taker", "0")
    assert module_api.cli.json("fees", "show", uid)["rates"] == []


def test_cross_margin_accepts_python_kucoins_type_parameter(module_api):
    uid = _uid("pk")
    user = module_api.add_user(uid)
    module_api.cli.post(
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": "a",
                "currency": "USDT",
                "account": "margin",
                "amount": "3",
            },
            {
                "op": "deposit",
                "uid": uid,
                "id": "b",
                "currency": "USDT",
                "account": "margin_v2",
                "amount": "4",
            },
        ]
    )

    def total(query: str) -> str:
        [row] = _get(module_api, user, "/api/v3/margin/accounts" + query)["accounts"]
        return str(row["total"])

    assert (total(""), total("?queryType=MARGIN_V2"), total("?type=ALL")) == (
        "3",
        "4",
        "7",
    )


def test_api_subs_count_by_their_flags_and_their_keys_show_remark_and_name(
    module_api,
):
    uid = _uid("api")
    master = module_api.add_user(uid, permissions="General,Margin,Futures")
    name = f"n{uuid.uuid4().hex[:8]}x1"
    body = json.dumps(
        {"subName": name, "password": "pass1234", "access": "Spot", "remarks": "r"}
    )
    sub_uid = str(
        ok_data(module_api.signed(master, "POST", "/api/v2/sub/user/created", body))[
            "uid"
        ]
    )
    before = _get(module_api, master, "/api/v2/user-info")
    assert (before["subQuantity"], before["futuresSubQuantity"]) == (1, 0)
    enable = json.dumps({"uid": sub_uid})
    module_api.signed(master, "POST", "/api/v3/sub/user/futures/enable", enable)
    after = _get(module_api, master, "/api/v2/user-info")
    assert (after["futuresSubQuantity"], after["marginSubQuantity"]) == (1, 0)
    # A sub made with access Margin trades margin (its tradeTypes say so): counted.
    margin_body = json.dumps(
        {"subName": f"m{name[1:]}", "password": "pass1234", "access": "Margin"}
    )
    module_api.signed(master, "POST", "/api/v2/sub/user/created", margin_body)
    counts = _get(module_api, master, "/api/v2/user-info")
    assert (counts["subQuantity"], counts["marginSubQuantity"]) == (2, 1)
    assert counts["futuresSubQuantity"] == 1
    made = ok_data(
        module_api.signed(
            master,
            "POST",
            "/api/v1/sub/api-key",
            json.dumps({"subName": name, "remark": "bot 7", "passphrase": "pw123456"}),
        )
    )
    key = ApiUser(sub_uid, made["apiKey"], made["apiSecret"], "pw123456")
    info = _get(module_api, key, "/api/v1/user/api-key")
    assert (info["remark"], info["subName"], info["isMaster"]) == (
        "bot 7",
        name,
        False,
    )
