"""The real server, driven by the clients people use: KuCoin's official
kucoin-universal-sdk and ccxt (default options, only the URLs pointed at us).

One seeded server per engine and module: a user with a day of history (plus
older entries outside the default 24 h window) and another user whose entries
interleave with it and must never show. Every answer a client parses must equal
what the database holds (`kuledger ledger|accounts --json`): ids, amounts,
balances, page counters and order.

Needs a socket: both clients open their own HTTP connections.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ccxt
import pytest
from kucoin_universal_sdk.api.client import DefaultClient
from kucoin_universal_sdk.generate.account.account.model_get_spot_account_list_req import (  # noqa: E501
    GetSpotAccountListReq,
    GetSpotAccountListReqBuilder,
)
from kucoin_universal_sdk.generate.account.account.model_get_spot_ledger_req import (
    GetSpotLedgerReq,
    GetSpotLedgerReqBuilder,
)
from kucoin_universal_sdk.model.client_option import ClientOptionBuilder
from kucoin_universal_sdk.model.transport_option import TransportOptionBuilder

from kuledger.domain.currencies import DEFAULT_CURRENCIES, DEFAULT_SYMBOLS
from tests.support.server import ApiUser, LiveServer

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
PAGE = 10
CCXT_APIS = (
    "public",
    "private",
    "earn",
    "broker",
    "webExchange",
    "uta",
    "utaV2",
    "utaPrivate",
    "futuresPublic",
    "futuresPrivate",
)

Item = dict[str, Any]


@dataclass
class Seeded:
    server: LiveServer
    alice: ApiUser
    t0: int  # when the history was written; every entry is before it
    ledger: list[Item]  # alice's entries, newest first, from the CLI
    accounts: list[Item]  # alice's accounts, from the CLI
    bob_ids: set[str]

    @property
    def window(self) -> tuple[int, int]:
        """A 22 h window holding all of the recent history."""
        return self.t0 - 21 * HOUR, self.t0 + HOUR


def _history(t0: int) -> list[dict[str, Any]]:
    """alice's operations (and bob's, interleaved), in time order."""
    ops: list[dict[str, Any]] = []

    def op(uid: str, at: int, kind: str, **fields: Any) -> None:
        ops.append({"op": kind, "uid": uid, "id": f"{kind}-{len(ops)}", "at": at})
        ops[-1].update(fields)

    def transfer(uid: str, at: int, currency: str, amount: str, *way: str) -> None:
        op(uid, at, "transfer", currency=currency, amount=amount)
        ops[-1].update(zip(("from", "to"), way, strict=True))

    old = t0 - 30 * HOUR  # outside the default window
    op("alice", old, "deposit", currency="USDT", amount="1000")
    op("alice", old, "deposit", currency="BTC", amount="0.5")
    start = t0 - 20 * HOUR
    op(
        "alice",
        start,
        "deposit",
        currency="USDT",
        amount="5000",
        context={"txId": "0xfeed"},
    )
    op("alice", start, "deposit", currency="BTC", amount="1.25")
    op("alice", start, "deposit", currency="ETH", amount="10")
    op("alice", start + MINUTE, "deposit", currency="KCS", amount="100")
    op("bob", start, "deposit", currency="USDT", amount="777")
    op("bob", start, "deposit", currency="BTC", amount="0.3")
    moved = t0 - 19 * HOUR
    for currency, amount in (("USDT", "3000"), ("BTC", "1"), ("KCS", "50")):
        transfer("alice", moved, currency, amount, "main", "trade")
    transfer("alice", moved, "ETH", "5", "main", "trade")
    transfer("bob", moved, "USDT", "700", "main", "trade")
    at = t0 - 18 * HOUR
    for i in range(16):
        if i not in (5, 11):  # two fills share the previous one's time
            at += 20 * MINUTE
        kcs_fee = i % 4 == 3
        op(
            "alice",
            at,
            "trade",
            symbol="BTC-USDT",
            side="buy" if i % 2 == 0 else "sell",
            price=str(60_000 + 10 * i),
            size="0.01",
            fee="0.05" if kcs_fee else "0.6",
            fee_currency="KCS" if kcs_fee else "USDT",
            order_id=f"order-{i}",
            trade_id=f"trade-{i}",
        )
        if i % 5 == 0:
            op(
                "bob",
                at,
                "trade",
                symbol="BTC-USDT",
                side="buy",
                price="60000",
                size="0.001",
                fee="0.06",
                order_id=f"bob-o{i}",
                trade_id=f"bob-t{i}",
            )
    for i, side in enumerate(("buy", "sell")):
        at += 7 * MINUTE
        op(
            "alice",
            at,
            "trade",
            symbol="ETH-BTC",
            side=side,
            price="0.05",
            size="1",
            fee="0.00005",
            order_id=f"eth-o{i}",
            trade_id=f"eth-t{i}",
        )
    for hours in (5, 4, 3):
        op(
            "alice",
            t0 - hours * HOUR,
            "withdrawal",
            currency="USDT",
            amount="100",
            fee="1",
            context={"address": "0xdead"},
        )
    op("bob", t0 - 3 * HOUR, "withdrawal", currency="USDT", amount="50")
    op(
        "alice",
        t0 - 2 * HOUR,
        "adjust",
        account="main",
        currency="USDT",
        amount="12.3456789",
        direction="in",
        biz_type="KUCOIN_BONUS",
    )
    op(
        "alice",
        t0 - 90 * MINUTE,
        "adjust",
        account="main",
        currency="BTC",
        amount="0.00012345",
        direction="in",
        biz_type="Referral Bonus",
    )
    op(
        "alice",
        t0 - HOUR,
        "adjust",
        account="main",
        currency="ETH",
        amount="1",
        direction="out",
        biz_type="STAKING",
    )
    op(
        "alice",
        t0 - 30 * MINUTE,
        "hold",
        account="trade",
        currency="USDT",
        amount="100",
    )
    transfer("alice", t0 - 20 * MINUTE, "USDT", "50.5", "trade", "main")
    return sorted(ops, key=lambda o: int(o["at"]))


@pytest.fixture(scope="module")
def seeded(module_server: LiveServer) -> Seeded:
    """The module's server (one per engine) with alice's and bob's history."""
    server = module_server
    alice = server.add_user("alice")
    server.cli.run("users", "create", "--uid", "bob", "--json")
    t0 = int(time.time() * 1000)
    results = server.cli.post(_history(t0))
    ledger = server.cli.json("ledger", "--uid", "alice", "--json")
    accounts = server.cli.json("accounts", "--uid", "alice", "--json")
    ids = {
        uid: {str(e) for r in results if r["uid"] == uid for e in r["entries"]}
        for uid in ("alice", "bob")
    }
    assert {i["id"] for i in ledger} == ids["alice"]
    return Seeded(server, alice, t0, ledger, accounts, ids["bob"])


def expected(
    seeded: Seeded,
    *,
    currency: str | None = None,
    direction: str | None = None,
    biz_type: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> list[Item]:
    """What GET /api/v1/accounts/ledgers must select, newest first.

    With no bounds, the server's default is the last 24 h: that holds all of
    the recent history and none of the 30 h old entries.
    """
    if start is None and end is None:
        start, end = seeded.t0 - DAY + HOUR, seeded.t0
    assert start is not None and end is not None
    codes = set(currency.split(",")) if currency else None
    return [
        i
        for i in seeded.ledger
        if (codes is None or i["currency"] in codes)
        and (direction is None or i["direction"] == direction)
        and (biz_type is None or i["bizType"] == biz_type)
        and start <= i["createdAt"] <= end
    ]


def pages(items: list[Item]) -> list[list[Item]]:
    """PAGE-sized pages, then one empty page past the end."""
    return [items[n : n + PAGE] for n in range(0, len(items), PAGE)] + [[]]


def cases(seeded: Seeded) -> list[dict[str, Any]]:
    """Ledger queries as KuCoin parameters (currency, direction, bizType,
    startAt, endAt); each case is fetched page by page."""
    start, end = seeded.window
    recent = [i["createdAt"] for i in seeded.ledger if i["createdAt"] >= start]
    first_trade = min(
        i["createdAt"] for i in seeded.ledger if i["bizType"] == "TRADE_EXCHANGE"
    )
    sub = (first_trade, sorted(set(recent))[-4])  # inclusive bounds on entries
    full = {"startAt": start, "endAt": end}
    return [
        {"currency": "USDT", **full},
        {"currency": "USDT,BTC", **full},
        {"currency": "USDT,BTC"},  # the server's default window
        {**full},  # every currency
        {"currency": "USDT,BTC", "direction": "in", **full},
        {"currency": "USDT,BTC", "direction": "out", **full},
        {"currency": "USDT,BTC", "bizType": "TRADE_EXCHANGE", **full},
        {"bizType": "DEPOSIT", **full},
        {"bizType": "WITHDRAW", **full},
        {"bizType": "TRANSFER", **full},
        {"bizType": "KUCOIN_BONUS", **full},
        {"currency": "BTC", "direction": "out", "bizType": "TRADE_EXCHANGE", **full},
        {"currency": "USDT,BTC,KCS", "startAt": sub[0], "endAt": sub[1]},
        {"currency": "XRP", **full},  # no entries: one empty page
    ]


def expected_for(seeded: Seeded, case: dict[str, Any]) -> list[Item]:
    return expected(
        seeded,
        currency=case.get("currency"),
        direction=case.get("direction"),
        biz_type=case.get("bizType"),
        start=case.get("startAt"),
        end=case.get("endAt"),
    )


def test_the_seed_covers_what_the_queries_need(seeded):
    """Guards the fixture: several pages, ties in time, old entries, bob."""
    start, end = seeded.window
    recent = expected(seeded, currency="USDT", start=start, end=end)
    assert len(recent) > 2 * PAGE
    times = [i["createdAt"] for i in recent]
    assert len(set(times)) < len(times)  # entries sharing a millisecond
    assert any(i["createdAt"] < seeded.t0 - DAY for i in seeded.ledger)
    assert seeded.bob_ids
    assert not seeded.bob_ids & {i["id"] for i in seeded.ledger}
    for case in cases(seeded)[:-1]:
        assert expected_for(seeded, case), case


# --- kucoin-universal-sdk ----------------------------------------------------


@pytest.fixture(scope="module")
def account_api(seeded: Seeded) -> Iterator[Any]:
    base = seeded.server.base_url
    option = (
        ClientOptionBuilder()
        .set_key(seeded.alice.key)
        .set_secret(seeded.alice.secret)
        .set_passphrase(seeded.alice.passphrase)
        .set_spot_endpoint(base)
        .set_futures_endpoint(base)
        .set_broker_endpoint(base)
        .set_transport_option(TransportOptionBuilder().build())
        .build()
    )
    api = DefaultClient(option).rest_service().get_account_service().get_account_api()
    yield api
    api.transport.close()


def _sdk_request(case: dict[str, Any], page: int) -> GetSpotLedgerReq:
    builder = GetSpotLedgerReqBuilder().set_current_page(page).set_page_size(PAGE)
    if "currency" in case:
        builder.set_currency(case["currency"])
    if "direction" in case:
        builder.set_direction(GetSpotLedgerReq.DirectionEnum(case["direction"]))
    if "bizType" in case:
        builder.set_biz_type(case["bizType"])
    if "startAt" in case:
        builder.set_start_at(case["startAt"]).set_end_at(case["endAt"])
    return builder.build()


def _parsed(models: list[Any] | None) -> list[Item]:
    """The SDK's models as wire JSON; None (a silently failed parse) fails."""
    assert models is not None, "the SDK could not parse the response"
    return [json.loads(m.to_json()) for m in models]


def test_universal_sdk_ledger_pages_equal_the_database(seeded, account_api):
    for case in cases(seeded):
        want = expected_for(seeded, case)
        total_pages = -(-len(want) // PAGE)
        for number, page in enumerate(pages(want), start=1):
            resp = account_api.get_spot_ledger(_sdk_request(case, number))
            raw = resp.common_response.data
            where = f"{case} page {number}"
            assert _parsed(resp.items) == raw["items"] == page, where
            counters = (resp.current_page, resp.page_size, resp.total_num)
            assert counters == (number, PAGE, len(want)), where
            assert resp.total_page == raw["totalPage"] == total_pages, where
            assert not seeded.bob_ids & {i["id"] for i in raw["items"]}


def test_universal_sdk_account_list_equals_the_database(seeded, account_api):
    TypeEnum = GetSpotAccountListReq.TypeEnum
    queries: list[tuple[GetSpotAccountListReq, list[Item]]] = [
        (GetSpotAccountListReqBuilder().build(), seeded.accounts),
        (
            GetSpotAccountListReqBuilder().set_type(TypeEnum.MAIN).build(),
            [a for a in seeded.accounts if a["type"] == "main"],
        ),
        (
            GetSpotAccountListReqBuilder().set_type(TypeEnum.TRADE).build(),
            [a for a in seeded.accounts if a["type"] == "trade"],
        ),
        (
            GetSpotAccountListReqBuilder().set_currency("USDT").build(),
            [a for a in seeded.accounts if a["currency"] == "USDT"],
        ),
    ]
    usdt_trade = next(
        a for a in seeded.accounts if (a["type"], a["currency"]) == ("trade", "USDT")
    )
    assert usdt_trade["holds"] == "100"
    for request, want in queries:
        resp = account_api.get_spot_account_list(request)
        assert want
        assert _parsed(resp.data) == resp.common_response.data == want, request


# --- ccxt --------------------------------------------------------------------


@pytest.fixture(scope="module")
def kucoin(seeded: Seeded) -> Iterator[Any]:
    """ccxt.kucoin with default options; every API group points at the server."""
    base = seeded.server.base_url
    exchange = ccxt.kucoin(
        {
            "apiKey": seeded.alice.key,
            "secret": seeded.alice.secret,
            "password": seeded.alice.passphrase,
            "urls": {"api": dict.fromkeys(CCXT_APIS, base)},
        }
    )
    yield exchange
    exchange.session.close()


def test_ccxt_loads_the_catalogue(kucoin):
    markets = kucoin.load_markets()
    for base, quote in DEFAULT_SYMBOLS:
        spot = markets[f"{base}/{quote}"]
        assert spot["id"] == f"{base}-{quote}"
        assert spot["spot"] is spot["active"] is True
        assert spot["taker"] == spot["maker"] == 0.001
        assert spot["precision"]["amount"] > 0
    swaps = [m for m in markets.values() if m["swap"]]
    assert swaps
    assert all(m["linear"] and m["settle"] == "USDT" for m in swaps)
    assert markets["BTC/USDT:USDT"]["contractSize"] == 0.001
    assert markets["BTC/USDT"]["marginModes"] == {"cross": True, "isolated": True}
    for currency in DEFAULT_CURRENCIES:
        loaded = kucoin.currencies[currency.code]
        assert loaded["precision"] == float(f"1e-{currency.precision}")
        assert loaded["name"] == currency.name
        assert loaded["type"] == "crypto"
    assert kucoin.options["uta"] is False
    assert kucoin.options["hf"] is False  # classic: /api/v1/accounts/ledgers


def _ccxt_page(kucoin: Any, case: dict[str, Any], number: int) -> list[Item]:
    """One page through fetch_ledger(code, since, limit, {until, ...})."""
    currency = case.get("currency")
    single = currency if currency and "," not in currency else None
    params: dict[str, Any] = {"currentPage": number}
    if currency and not single:
        params["currency"] = currency
    for name in ("direction", "bizType"):
        if name in case:
            params[name] = case[name]
    if "endAt" in case:
        params["until"] = case["endAt"]
    entries: list[Item] = kucoin.fetch_ledger(single, case.get("startAt"), PAGE, params)
    return entries


def _check_parsed(entry: Item, item: Item) -> None:
    """ccxt's unified fields agree with the wire item they came from."""
    assert entry["id"] == item["id"]
    assert entry["timestamp"] == item["createdAt"]
    assert entry["currency"] == item["currency"]
    assert entry["direction"] == item["direction"]
    assert entry["account"] == item["accountType"]
    assert entry["amount"] == float(item["amount"])
    assert entry["after"] == (float(item["balance"]) or None)
    fee = float(item["fee"])
    assert entry["fee"] == (
        {"cost": fee, "currency": item["currency"]} if fee else None
    )
    if item["bizType"] == "TRADE_EXCHANGE":
        assert entry["referenceId"] == json.loads(item["context"])["tradeId"]


def test_ccxt_ledger_pages_equal_the_database(seeded, kucoin):
    for case in cases(seeded):
        want = expected_for(seeded, case)
        for number, page in enumerate(pages(want), start=1):
            got = _ccxt_page(kucoin, case, number)
            # ccxt sorts each page oldest first (a stable sort: ties keep the
            # server's order, by id descending)
            oldest_first = sorted(page, key=lambda i: i["createdAt"])
            assert [e["info"] for e in got] == oldest_first, f"{case} page {number}"
            for entry, item in zip(got, oldest_first, strict=True):
                _check_parsed(entry, item)


def test_ccxt_fetch_ledger_defaults_to_the_last_day(seeded, kucoin):
    """No since, no until, no limit: one page of 50 from the last 24 h."""
    want = expected(seeded, currency="BTC")
    assert 0 < len(want) <= 50
    got = kucoin.fetch_ledger("BTC")
    assert [e["info"] for e in got] == sorted(want, key=lambda i: i["createdAt"])


def test_ccxt_balance_equals_the_database(seeded, kucoin):
    for account_type in ("trade", "main"):
        want = [a for a in seeded.accounts if a["type"] == account_type]
        assert want
        params = {} if account_type == "trade" else {"type": "main"}
        balance = kucoin.fetch_balance(params)
        assert balance["info"]["data"] == want
        for account in want:
            assert balance[account["currency"]] == {
                "free": float(account["available"]),
                "used": float(account["holds"]),
                "total": float(account["balance"]),
            }
        held = {a["currency"] for a in want if a["holds"] != "0"}
        assert held == ({"USDT"} if account_type == "trade" else set())
