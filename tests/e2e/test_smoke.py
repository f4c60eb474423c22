"""The real server answers signed requests on both engines."""

from __future__ import annotations


def test_a_signed_ledger_request_returns_the_users_entries(api):
    server = api
    user = server.add_user("alice")
    server.cli.post(
        [
            {
                "op": "deposit",
                "uid": "alice",
                "id": "d1",
                "currency": "USDT",
                "amount": "12.5",
            }
        ]
    )
    response = server.signed(user, "GET", "/api/v1/accounts/ledgers?currency=USDT")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == "200000"
    [item] = body["data"]["items"]
    assert (item["amount"], item["balance"], item["bizType"]) == (
        "12.5",
        "12.5",
        "DEPOSIT",
    )
