"""Realised PnL shows in the futures ledger as RealisedPNL, with exact numbers."""

from __future__ import annotations

import json


def test_realised_pnl_appears_in_the_futures_ledger(module_api):
    server = module_api
    user = server.add_user("pnl-trader")
    server.cli.post(
        [
            {
                "op": "realised_pnl",
                "uid": "pnl-trader",
                "id": "p1",
                "currency": "USDT",
                "pnl": "100.125",
                "fee": "0.125",
                "symbol": "BTCUSDTM",
            },
            {
                "op": "realised_pnl",
                "uid": "pnl-trader",
                "id": "p2",
                "currency": "USDT",
                "pnl": "-40",
                "fee": "0.5",
                "symbol": "ETHUSDTM",
            },
        ]
    )
    response = server.signed(
        user, "GET", "/api/v1/transaction-history?type=RealisedPNL"
    )
    assert response.json()["code"] == "200000"
    assert '"amount":-40.5' in response.text and '"amount":100' in response.text
    items = json.loads(response.text)["data"]["dataList"]
    assert [(i["type"], i["remark"], i["accountEquity"]) for i in items] == [
        ("RealisedPNL", "ETHUSDTM", 59.5),
        ("RealisedPNL", "BTCUSDTM", 100),
    ]
    spot = server.signed(user, "GET", "/api/v1/accounts/ledgers").json()
    assert spot["data"]["items"] == []  # not a transfer leg: futures ledger only
