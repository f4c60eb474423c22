"""Numbered pages stay exact when served by keyset seeks: every walk order
returns what OFFSET paging over the same rows would."""

from __future__ import annotations

import time

DAY = 86_400_000


def _items(server, user, query):
    response = server.signed(user, "GET", f"/api/v1/accounts/ledgers?{query}")
    body = response.json()
    assert body["code"] == "200000", body
    return body["data"]


def test_pages_walked_in_any_order_match_the_database(module_api):
    server = module_api
    user = server.add_user("pager")
    now = int(time.time() * 1000)
    start = now - DAY + 1000
    ops = []
    for i in range(137):  # many entries share a createdAt: ties break by id
        ops.append(
            {
                "op": "deposit",
                "uid": "pager",
                "id": f"p{i}",
                "currency": "USDT",
                "amount": str(i + 1),
                "at": start + (i // 5) * 1000,
            }
        )
    server.cli.post(ops)
    expected = [e["id"] for e in server.cli.json("ledger", "--uid", "pager", "--json")]
    window = f"startAt={start}&endAt={start + DAY - 2000}&pageSize=10"
    forward = []
    for page in range(1, 16):
        data = _items(server, user, f"{window}&currentPage={page}")
        assert (data["totalNum"], data["totalPage"]) == (137, 14)
        forward += [item["id"] for item in data["items"]]
    assert forward == expected
    for page in (9, 3, 14, 1, 7, 8, 2):  # jumps and repeats
        data = _items(server, user, f"{window}&currentPage={page}")
        assert [i["id"] for i in data["items"]] == expected[(page - 1) * 10 : page * 10]


def test_a_new_entry_updates_the_total_count(module_api):
    server = module_api
    user = server.add_user("counter")
    now = int(time.time() * 1000)
    server.cli.post(
        [
            {
                "op": "deposit",
                "uid": "counter",
                "id": "c1",
                "currency": "USDT",
                "amount": "1",
                "at": now - 5000,
            }
        ]
    )
    query = f"startAt={now - DAY + 10_000}&endAt={now + 10_000}"
    assert _items(server, user, query)["totalNum"] == 1
    server.cli.post(
        [
            {
                "op": "deposit",
                "uid": "counter",
                "id": "c2",
                "currency": "USDT",
                "amount": "1",
                "at": now - 4000,
            }
        ]
    )
    assert _items(server, user, query)["totalNum"] == 2
