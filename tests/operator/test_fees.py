"""Fee rates through the operator API, and the KuCoin answers they govern."""

from __future__ import annotations

from tests.operator.support import OperatorApi
from tests.operator.test_admin import kucoin_get
from tests.operator.test_operations import new_uid


def _fees(op: OperatorApi, key: dict[str, str], path: str) -> object:
    body = kucoin_get(op, key, path).json()
    assert body["code"] == "200000", body
    return body["data"]


def test_rates_are_set_read_and_removed_and_kucoin_answers_them(op: OperatorApi):
    uid = op.user(new_uid())
    key = op.ok(
        "POST", "/users/{uid}/api-keys", uid=uid, json={"permissions": ["General"]}
    )
    spot = {"market": "spot", "makerFeeRate": "0.0006", "takerFeeRate": "0.0008"}
    row = op.ok("PUT", "/users/{uid}/fees", uid=uid, json=spot)
    assert (row["symbol"], row["makerFeeRate"]) == (None, "0.0006")
    one = {**spot, "symbol": "ETH-USDT", "makerFeeRate": "-0.0002"}
    op.ok("PUT", "/users/{uid}/fees", uid=uid, json=one)
    futures = {"market": "futures", "makerFeeRate": "0", "takerFeeRate": "0.0003"}
    op.ok("PUT", "/users/{uid}/fees", uid=uid, json=futures)
    listed = op.ok("GET", "/users/{uid}/fees", uid=uid)
    assert listed["defaults"]["futures"] == {
        "makerFeeRate": "0.0002",
        "takerFeeRate": "0.0006",
    }
    assert [(r["market"], r["symbol"]) for r in listed["rates"]] == [
        ("spot", None),
        ("spot", "ETH-USDT"),
        ("futures", None),
    ]
    assert _fees(op, key, "/api/v1/trade-fees?symbols=BTC-USDT,ETH-USDT") == [
        {"symbol": "BTC-USDT", "takerFeeRate": "0.0008", "makerFeeRate": "0.0006",
         "sellTaxRate": "0", "buyTaxRate": "0"},
        {"symbol": "ETH-USDT", "takerFeeRate": "0.0008", "makerFeeRate": "-0.0002",
         "sellTaxRate": "0", "buyTaxRate": "0"},
    ]  # fmt: skip
    assert _fees(op, key, "/api/v1/trade-fees?symbol=ETHUSDTM") == {
        "symbol": "ETHUSDTM",
        "takerFeeRate": "0.0003",
        "makerFeeRate": "0",
    }
    gone = op.ok("DELETE", "/users/{uid}/fees", uid=uid, params={"market": "spot"})
    assert gone == {"uid": uid, "market": "spot", "symbol": None}
    assert _fees(op, key, "/api/v1/base-fee") == {
        "takerFeeRate": "0.001",
        "makerFeeRate": "0.001",
    }
    again = op.call("DELETE", "/users/{uid}/fees", uid=uid, params={"market": "spot"})
    assert again.status_code == 404 and again.json()["code"] == "404000"


def test_bad_rates_unknown_users_and_scopes_are_refused(op: OperatorApi):
    uid = op.user(new_uid())
    base = {"market": "spot", "makerFeeRate": "0.001", "takerFeeRate": "0.001"}
    for bad in (
        {**base, "makerFeeRate": "0.5"},
        {**base, "takerFeeRate": 0.001},
        {**base, "market": "options"},
        {**base, "extra": 1},
        {"market": "spot", "makerFeeRate": "0.001"},
    ):
        body = op.call("PUT", "/users/{uid}/fees", uid=uid, json=bad).json()
        assert body["code"] == "400100", (bad, body)
    assert op.ok("GET", "/users/{uid}/fees", uid=uid)["rates"] == []
    missing = op.call("PUT", "/users/{uid}/fees", uid="nobody-here", json=base)
    assert missing.status_code == 404 and missing.json()["code"] == "404000"
    read_only = op.token("read")
    refused = op.call("PUT", "/users/{uid}/fees", uid=uid, json=base, token=read_only)
    assert refused.status_code == 403 and refused.json()["code"] == "400007"
    assert op.call("GET", "/users/{uid}/fees", uid=uid, token=read_only).is_success
