"""Both SDK clients against canned replies (httpx.MockTransport): every public
method, error mapping, retries with backoff, waiting for the rate-limit reset,
exact futures numbers and the exactly-once ledger walk. Each test that takes
`clients` runs on KucoinClient and on AsyncKucoinClient. `sleep` is injected:
nothing here sleeps."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

import kuledger_client
from kuledger_client import (
    DAY_MS,
    Account,
    AccountDetail,
    AsyncKucoinClient,
    AuthenticationError,
    BadRequestError,
    FuturesLedgerPage,
    KucoinClient,
    KucoinError,
    LedgerEntry,
    NotFoundError,
    RateLimitError,
    ServerError,
    ServiceStatus,
    SpotLedgerPage,
    TransferQuotas,
    TransferResult,
    TransportError,
    dumps,
    ledger_windows,
)
from tests.sdk.clients import Clients

BASE = "http://ledger.test"
Handler = Callable[[httpx.Request], httpx.Response]


def ok(data: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json={"code": "200000", "data": data}, headers=headers)


def fail(status: int, code: str, msg: str = "no", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg}, headers=headers)


def limits(remaining: int, reset: int, limit: int = 2000) -> dict[str, str]:
    return {
        "gw-ratelimit-limit": str(limit),
        "gw-ratelimit-remaining": str(remaining),
        "gw-ratelimit-reset": str(reset),
    }


class Recorder:
    """A MockTransport whose replies come from a list or a function, keeping
    every request, and a sleep that only records."""

    def __init__(
        self, clients: Clients, replies: list[httpx.Response] | Handler
    ) -> None:
        self.clients = clients
        self.replies = replies
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if callable(self.replies):
            return self.replies(request)
        return self.replies.pop(0)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, **options: Any) -> KucoinClient:
        options.setdefault("jitter", lambda: 0.0)
        return self.clients(
            "key",
            "secret",
            "pass",
            base_url=BASE,
            transport=httpx.MockTransport(self.handle),
            sleep=self.sleep,
            **options,
        )


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "400001", AuthenticationError),
        (401, "400005", AuthenticationError),
        (403, "400006", AuthenticationError),
        (400, "400012", AuthenticationError),
        (200, "400100", BadRequestError),
        (415, "415000", BadRequestError),
        (200, "411100", BadRequestError),
        (404, "404000", NotFoundError),
        (200, "230008", NotFoundError),
        (404, "404", NotFoundError),  # futures host's short code
        (200, "200004", KucoinError),
        (200, "230003", KucoinError),
    ],
)
def test_kucoin_codes_become_exception_classes(clients, status, code, expected):
    recorder = Recorder(clients, [fail(status, code, "the message")])
    with pytest.raises(KucoinError) as raised:
        recorder.client().get_spot_account_list()
    assert type(raised.value) is expected
    assert (raised.value.code, raised.value.msg, raised.value.status) == (
        code,
        "the message",
        status,
    )
    assert raised.value.response is not None
    assert len(recorder.requests) == 1  # not retried


def test_a_non_json_gateway_error_is_a_server_error_by_its_status(clients):
    recorder = Recorder(clients, [httpx.Response(502, text="<html>bad gateway</html>")])
    with pytest.raises(ServerError) as raised:
        recorder.client(max_retries=0).get_server_time()
    assert raised.value.status == 502


def test_a_success_without_data_is_an_error(clients):
    recorder = Recorder(
        clients,
        [
            httpx.Response(
                200, json={"code": "200000", "msg": "The interface is offline"}
            )
        ],
    )
    with pytest.raises(KucoinError, match="offline"):
        recorder.client().get_server_time()


def test_429_is_retried_after_the_reset_and_each_attempt_is_signed_anew(clients):
    times = iter(range(1_700_000_000_000, 1_700_000_000_100))
    recorder = Recorder(
        clients,
        [
            fail(429, "429000", "Too Many Requests", **limits(0, 1500)),
            ok([], limits(1995, 30000)),
        ],
    )
    client = recorder.client(clock=lambda: next(times))
    assert client.get_spot_account_list() == []
    assert recorder.sleeps == [1.5 + 0.05]
    first, second = recorder.requests
    assert first.headers["KC-API-TIMESTAMP"] != second.headers["KC-API-TIMESTAMP"]
    assert first.headers["KC-API-SIGN"] != second.headers["KC-API-SIGN"]
    assert client.last_rate_limit == kuledger_client.RateLimit(2000, 1995, 30000)


def test_5xx_backs_off_exponentially_with_jitter_then_succeeds(clients):
    recorder = Recorder(
        clients,
        [
            fail(500, "500000"),
            fail(503, "503000"),
            httpx.Response(504, text="timeout"),
            ok(1700000000000),
        ],
    )
    client = recorder.client(backoff_base=1.0, jitter=lambda: 0.5)
    assert client.get_server_time() == 1700000000000
    # ceiling 1, 2, 4 -> half of it plus jitter (0.5) times the other half
    assert recorder.sleeps == [0.75, 1.5, 3.0]


def test_backoff_is_capped(clients):
    recorder = Recorder(clients, [fail(503, "503000")] * 6 + [ok(1)])
    client = recorder.client(backoff_base=1.0, backoff_max=4.0, max_retries=6)
    assert client.get_server_time() == 1
    assert recorder.sleeps == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]


def test_retries_are_bounded(clients):
    recorder = Recorder(clients, [fail(429, "429000")] * 10)
    with pytest.raises(RateLimitError):
        recorder.client(max_retries=3).get_spot_account_list()
    assert len(recorder.requests) == 4
    assert len(recorder.sleeps) == 3


def test_connection_errors_are_retried_then_raised_as_transport_errors(clients):
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    recorder = Recorder(clients, refuse)
    with pytest.raises(TransportError) as raised:
        recorder.client(max_retries=2).get_spot_account_list()
    assert raised.value.transient
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert len(calls) == 3


def test_a_connection_error_then_success(clients):
    state = {"calls": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        state["calls"] += 1
        if state["calls"] == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return ok({"status": "open", "msg": ""})

    status = Recorder(clients, flaky).client().get_service_status()
    assert status == kuledger_client.ServiceStatus("open", "")


def test_the_client_waits_for_the_reset_instead_of_spending_its_last_weight(clients):
    recorder = Recorder(clients, [ok([], limits(1, 2500)), ok([], limits(1995, 30000))])
    client = recorder.client()
    client.get_spot_account_list()  # leaves 1; the next call weighs 5
    assert recorder.sleeps == []
    client.get_spot_account_list()
    assert len(recorder.sleeps) == 1
    assert 2.4 < recorder.sleeps[0] <= 2.55
    assert len(recorder.requests) == 2


def test_no_wait_while_the_pool_has_room_and_pools_are_separate(clients):
    recorder = Recorder(
        clients,
        [
            ok([], limits(5, 20000)),  # Management: exactly one more weight-5 call
            ok([], limits(4, 20000)),  # Management: now 4 left
            ok(1, limits(2, 20000)),  # Public pool: its own quota
            ok([], limits(1990, 30000)),
        ],
    )
    client = recorder.client()
    client.get_spot_account_list()
    client.get_spot_account_list()
    assert recorder.sleeps == []
    client.get_server_time()  # Public, weight 3 > 2 would wait only for Public
    client.get_spot_account_list()  # Management has 4 < 5: waits
    assert len(recorder.sleeps) == 1


def test_rate_limit_respect_can_be_turned_off(clients):
    recorder = Recorder(clients, [ok([], limits(0, 2500)), ok([], limits(0, 2500))])
    client = recorder.client(respect_rate_limits=False)
    client.get_spot_account_list()
    client.get_spot_account_list()
    assert recorder.sleeps == []


def test_a_retried_transfer_keeps_its_client_oid(clients):
    recorder = Recorder(clients, [fail(503, "503000"), ok({"orderId": "o1"})])
    result = recorder.client().inner_transfer(
        currency="USDT", amount=Decimal("1.50"), from_="main", to="trade"
    )
    assert result.order_id == "o1"
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert bodies[0] == bodies[1]
    assert bodies[0]["from"] == "main"
    assert bodies[0]["amount"] == "1.50"
    assert bodies[0]["clientOid"]


def test_flex_transfer_and_quotas_send_kucoins_field_names(clients):
    recorder = Recorder(
        clients,
        [
            ok({"orderId": "o2"}),
            ok(
                {
                    "currency": "USDT",
                    "balance": "10",
                    "available": "9",
                    "holds": "1",
                    "transferable": "9",
                }
            ),
        ],
    )
    client = recorder.client()
    client.flex_transfer(
        currency="USDT",
        amount="2",
        from_account_type="MAIN",
        to_account_type="TRADE",
        client_oid="c1",
    )
    quotas = client.get_transfer_quotas(currency="USDT", type="MAIN")
    assert quotas.transferable == Decimal(9)
    sent = json.loads(recorder.requests[0].content)
    assert sent == {
        "clientOid": "c1",
        "type": "INTERNAL",
        "currency": "USDT",
        "amount": "2",
        "fromAccountType": "MAIN",
        "toAccountType": "TRADE",
    }
    assert recorder.requests[1].url.params["type"] == "MAIN"


def test_public_calls_are_not_signed_and_need_no_credentials(clients):
    recorder = Recorder(clients, [ok(1700000000000)])
    transport = httpx.MockTransport(recorder.handle)
    with clients(base_url=BASE, transport=transport) as client:
        assert client.get_server_time() == 1700000000000
        assert "KC-API-SIGN" not in recorder.requests[0].headers
        with pytest.raises(kuledger_client.ClientError, match="needs a key"):
            client.get_spot_account_list()


def test_futures_calls_go_to_the_futures_host(clients):
    assert clients().futures_base_url == "https://api-futures.kucoin.com"
    assert clients(base_url="http://x:1/").futures_base_url == "http://x:1"
    custom = clients(base_url="http://x:1", futures_base_url="http://y:2")
    assert custom.futures_base_url == "http://y:2"


FUTURES_BODY = (
    '{"code":"200000","data":{"dataList":[{"time":1700000000000,'
    '"type":"RealisedPNL","amount":-0.1000000000000000055511151231257827,'
    '"fee":0,"accountEquity":123456789.12345678912345,"status":"Completed",'
    '"remark":"XBTUSDTM","offset":5,"currency":"USDT"}],"hasMore":false}}'
)


def test_futures_numbers_are_parsed_exactly_and_written_back_unchanged(clients):
    recorder = Recorder(
        clients,
        [httpx.Response(200, content=FUTURES_BODY.encode())] * 2,
    )
    page = recorder.client().get_futures_ledger(currency="USDT")
    [entry] = page.items
    assert entry.amount == Decimal("-0.1000000000000000055511151231257827")
    assert entry.account_equity == Decimal("123456789.12345678912345")
    assert (entry.id, entry.created_at) == ("5", 1700000000000)
    item = json.loads(FUTURES_BODY)["data"]["dataList"][0]
    assert (
        dumps(entry.raw)
        == FUTURES_BODY[FUTURES_BODY.index("[") + 1 : FUTURES_BODY.index("]")]
    )
    assert set(entry.raw) == set(item)
    request = recorder.requests[0]
    assert request.url.path == "/api/v1/transaction-history"
    assert request.url.params["forward"] == "true"


def test_a_malformed_item_is_a_transport_error(clients):
    recorder = Recorder(clients, [ok([{"id": "1", "currency": "USDT"}])])
    with pytest.raises(TransportError, match="amount"):
        recorder.client().get_spot_hf_ledger()


# -- the ledger walk ---------------------------------------------------------


def _item(entry_id: int, at: int, currency: str = "USDT") -> dict[str, Any]:
    return {
        "id": str(entry_id),
        "currency": currency,
        "amount": "1",
        "fee": "0",
        "balance": "0",
        "accountType": "MAIN",
        "bizType": "DEPOSIT",
        "direction": "in",
        "createdAt": at,
        "context": "",
    }


class FakeSpotLedger:
    """GET /api/v1/accounts/ledgers over a list of entries, newest first,
    offset paging; `arrivals` adds entries at the head between requests."""

    def __init__(self, entries: list[tuple[int, int]]) -> None:
        self.entries = list(entries)  # (id, createdAt)
        self.windows: list[tuple[int, int]] = []
        self.arrivals: Callable[[int, int], list[tuple[int, int]]] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        q = dict(parse_qsl(request.url.query.decode()))
        start, end = int(q["startAt"]), int(q["endAt"])
        assert end - start <= DAY_MS, "a window wider than 24 h"
        page, size = int(q["currentPage"]), int(q["pageSize"])
        if page == 1:
            self.windows.append((start, end))
        elif self.arrivals is not None:
            self.entries += self.arrivals(start, end)
        rows = sorted(
            (e for e in self.entries if start <= e[1] <= end),
            key=lambda e: (e[1], e[0]),
            reverse=True,
        )
        chunk = rows[(page - 1) * size : page * size]
        return ok(
            {
                "currentPage": page,
                "pageSize": size,
                "totalNum": len(rows),
                "totalPage": -(-len(rows) // size),
                "items": [_item(i, at) for i, at in chunk],
            }
        )


def test_windows_are_consecutive_non_overlapping_and_at_most_24_hours():
    start, end = 1_000_000, 1_000_000 + 3 * DAY_MS + 5
    oldest = list(ledger_windows(start, end, newest_first=False))
    assert oldest[0] == (start, start + DAY_MS - 1)
    assert oldest[-1] == (start + 3 * DAY_MS, end)
    newest = list(ledger_windows(start, end))
    assert newest[0] == (end - DAY_MS + 1, end)
    assert newest[-1][0] == start
    for windows in (oldest, sorted(newest)):
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(windows))
        assert all(high - low < DAY_MS for low, high in windows)
    assert list(ledger_windows(5, 5)) == [(5, 5)]
    assert list(ledger_windows(6, 5)) == []


def test_equal_timestamps_at_a_window_boundary_are_yielded_once(clients):
    start = 10 * DAY_MS
    boundary = start + DAY_MS  # first millisecond of the second window
    entries = [(i, boundary - 1) for i in range(1, 4)] + [
        (i, boundary) for i in range(4, 8)
    ]
    fake = FakeSpotLedger(entries)
    recorder = Recorder(clients, fake)
    got = list(recorder.client().iter_ledger(start, start + 2 * DAY_MS - 1))
    assert sorted(int(e.id) for e in got) == list(range(1, 8))
    assert fake.windows == [
        (start + DAY_MS, start + 2 * DAY_MS - 1),
        (start, boundary - 1),
    ]


@pytest.mark.parametrize("newest_first", [True, False])
def test_entries_arriving_mid_walk_cause_no_duplicate_and_no_gap(clients, newest_first):
    start = 20 * DAY_MS
    existing = [(i, start + i * 60_000) for i in range(1, 1401)]  # 3 pages
    fake = FakeSpotLedger(existing)
    counter = iter(range(10_000, 20_000))

    def arrivals(low: int, high: int) -> list[tuple[int, int]]:
        # new entries land at the head of the window being walked
        return [(next(counter), high) for _ in range(7)]

    fake.arrivals = arrivals
    got = list(
        Recorder(clients, fake)
        .client()
        .iter_ledger(start, start + 2 * DAY_MS - 1, newest_first=newest_first)
    )
    ids = [int(e.id) for e in got]
    assert len(ids) == len(set(ids)), "an entry was yielded twice"
    assert set(range(1, 1401)) <= set(ids), "an entry was missed"
    keys = [(e.created_at, int(e.id)) for e in got]
    assert keys == sorted(keys, reverse=newest_first)


def test_more_than_ten_currencies_are_asked_in_groups_and_merged_in_order(clients):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        group = request.url.params["currency"].split(",")
        seen.append(",".join(group))
        at = 5 * DAY_MS + len(seen)
        return ok(
            {
                "currentPage": 1,
                "pageSize": 500,
                "totalNum": 1,
                "totalPage": 1,
                "items": [_item(len(seen), at, group[0])],
            }
        )

    codes = [f"C{i:02d}" for i in range(12)]
    got = list(
        Recorder(clients, handler)
        .client()
        .iter_ledger(5 * DAY_MS, 6 * DAY_MS - 1, currencies=codes)
    )
    assert seen == [",".join(codes[:10]), ",".join(codes[10:])]
    assert [e.id for e in got] == ["2", "1"]  # newest first across both groups


def test_hf_ledgers_walk_last_id_cursors_within_each_window(clients):
    rows = [(i, 3 * DAY_MS + i) for i in range(1, 451)]
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        last = params.get("lastId")
        asked.append(last)
        limit = int(params["limit"])
        start, end = int(params["startAt"]), int(params["endAt"])
        chosen = [
            (i, at)
            for i, at in reversed(rows)
            if start <= at <= end and (last is None or i < int(last))
        ][:limit]
        items = [{**_item(i, at), "createdAt": str(at), "tax": "0"} for i, at in chosen]
        return ok(items)

    got = list(
        Recorder(clients, handler)
        .client()
        .iter_ledger(3 * DAY_MS, 4 * DAY_MS - 1, ledger="hf", newest_first=False)
    )
    assert [int(e.id) for e in got] == list(range(1, 451))
    assert asked == [None, "251", "51"]


def test_the_futures_walk_follows_offsets_and_skips_pending_rows(clients):
    pages = [
        {
            "dataList": [_futures(-1, "Pending"), _futures(9), _futures(8)],
            "hasMore": True,
        },
        {"dataList": [_futures(8), _futures(7)], "hasMore": False},
    ]
    offsets: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        offsets.append(request.url.params.get("offset"))
        return httpx.Response(
            200, content=json.dumps({"code": "200000", "data": pages.pop(0)})
        )

    got = list(
        Recorder(clients, handler)
        .client()
        .iter_ledger(0, DAY_MS - 1, ledger="futures", currencies=["USDT"])
    )
    assert [e.id for e in got] == ["9", "8", "7"]
    assert offsets == [None, "8"]


def _futures(offset: int, status: str = "Completed") -> dict[str, Any]:
    return {
        "time": 1000 + offset,
        "type": "RealisedPNL",
        "amount": 1.5,
        "fee": 0,
        "accountEquity": 10,
        "status": status,
        "remark": "XBTUSDTM",
        "offset": offset,
        "currency": "USDT",
    }


def test_iter_ledger_refuses_an_unknown_ledger(clients):
    with pytest.raises(ValueError, match="ledger must be one of"):
        list(Recorder(clients, []).client().iter_ledger(0, 1, ledger="nope"))  # type: ignore[arg-type]


# -- every public method ----------------------------------------------------

ACCOUNT = {
    "id": "a1",
    "currency": "USDT",
    "type": "main",
    "balance": "3",
    "available": "2",
    "holds": "1",
}
SPOT_PAGE = {
    "currentPage": 1,
    "pageSize": 50,
    "totalNum": 1,
    "totalPage": 1,
    "items": [_item(1, 1000)],
}
FUTURES_PAGE = {"dataList": [_futures(3)], "hasMore": False}


def _as_received(data: Any) -> Any:
    """`data` as the client reads it off the wire: JSON numbers as Decimal."""
    return json.loads(json.dumps(data), parse_float=Decimal)


QUOTAS = {**ACCOUNT, "transferable": "2"}
ORDER = {"orderId": "o9"}
NOON = datetime(2024, 1, 2, 12, tzinfo=UTC)  # 1704196800000 ms

# method, keywords, the request it sends, the data the server answers, what
# the call returns
CALLS: list[tuple[str, dict[str, Any], str, Any, Any]] = [
    (
        "get_spot_ledger",
        {"currency": "BTC, ETH", "biz_type": "Deposit", "start_at": NOON, "end_at": 9},
        "GET /api/v1/accounts/ledgers?currency=BTC%2CETH&bizType=Deposit"
        "&startAt=1704196800000&endAt=9&currentPage=1&pageSize=50",
        SPOT_PAGE,
        SpotLedgerPage(1, 50, 1, 1, (LedgerEntry.parse(_item(1, 1000)),)),
    ),
    (
        "get_spot_hf_ledger",
        {"currency": ["USDT"], "direction": "in", "last_id": 7, "end_at": 9},
        "GET /api/v1/hf/accounts/ledgers?currency=USDT&direction=in&lastId=7"
        "&limit=100&endAt=9",
        [_item(2, 1000)],
        [LedgerEntry.parse(_item(2, 1000))],
    ),
    (
        "get_margin_hf_ledger",
        {"limit": 5, "start_at": 1},
        "GET /api/v3/hf/margin/account/ledgers?limit=5&startAt=1",
        None,
        [],
    ),
    (
        "get_futures_ledger",
        {"currency": "USDT", "offset": 4, "forward": False, "max_count": 10},
        "GET http://futures.test/api/v1/transaction-history?currency=USDT&offset=4"
        "&forward=false&maxCount=10",
        FUTURES_PAGE,
        FuturesLedgerPage.parse(
            json.loads(json.dumps(FUTURES_PAGE), parse_float=Decimal)
        ),
    ),
    (
        "get_spot_account_list",
        {"currency": "USDT"},
        "GET /api/v1/accounts?currency=USDT",
        [ACCOUNT],
        [Account.parse(ACCOUNT)],
    ),
    (
        "get_account_list",
        {"type": "main"},
        "GET /api/v1/accounts?type=main",
        [],
        [],
    ),
    (
        "get_spot_account_detail",
        {"account_id": "a1"},
        "GET /api/v1/accounts/a1",
        ACCOUNT,
        AccountDetail("USDT", Decimal(3), Decimal(2), Decimal(1)),
    ),
    ("get_spot_account_type", {}, "GET /api/v1/hf/accounts/opened", True, True),
    (
        "get_transfer_quotas",
        {"currency": "USDT", "type": "MAIN", "tag": "BTC-USDT"},
        "GET /api/v1/accounts/transferable?currency=USDT&type=MAIN&tag=BTC-USDT",
        QUOTAS,
        TransferQuotas.parse(QUOTAS),
    ),
    (
        "inner_transfer",
        {
            "currency": "USDT",
            "amount": "0.10",
            "from_": "main",
            "to": "isolated",
            "client_oid": "c7",
            "to_tag": "BTC-USDT",
        },
        'POST /api/v2/accounts/inner-transfer {"clientOid":"c7","currency":"USDT",'
        '"amount":"0.10","from":"main","to":"isolated","toTag":"BTC-USDT"}',
        ORDER,
        TransferResult("o9"),
    ),
    (
        "flex_transfer",
        {
            "currency": "USDT",
            "amount": Decimal("2.5"),
            "from_account_type": "MAIN",
            "to_account_type": "CONTRACT",
            "type": "PARENT_TO_SUB",
            "client_oid": "c8",
            "to_user_id": "u2",
        },
        'POST /api/v3/accounts/universal-transfer {"clientOid":"c8",'
        '"type":"PARENT_TO_SUB","currency":"USDT","amount":"2.5",'
        '"fromAccountType":"MAIN","toUserId":"u2","toAccountType":"CONTRACT"}',
        ORDER,
        TransferResult("o9"),
    ),
    ("get_server_time", {}, "GET /api/v1/timestamp", 1700000000000, 1700000000000),
    (
        "get_service_status",
        {},
        "GET /api/v1/status",
        {"status": "cancelonly", "msg": "soon"},
        ServiceStatus("cancelonly", "soon"),
    ),
]


def _sent(request: httpx.Request) -> str:
    """The request as one line: method, URL (host only when not BASE), body."""
    url = str(request.url).removeprefix(BASE)
    body = f" {request.content.decode()}" if request.content else ""
    return f"{request.method} {url}{body}"


@pytest.mark.parametrize(
    ("method", "keywords", "request_line", "data", "expected"),
    CALLS,
    ids=[call[0] for call in CALLS],
)
def test_every_public_method_sends_its_request_and_types_its_reply(
    clients, method, keywords, request_line, data, expected
):
    recorder = Recorder(clients, [ok(data)])
    client = recorder.client(futures_base_url="http://futures.test")
    assert getattr(client, method)(**keywords) == expected
    [request] = recorder.requests
    assert _sent(request) == request_line
    signed = "KC-API-SIGN" in request.headers
    assert signed == (method not in ("get_server_time", "get_service_status"))


def test_the_method_table_covers_every_public_method():
    methods = {
        name
        for name, _ in inspect.getmembers(KucoinClient, inspect.isfunction)
        if not name.startswith("_")
    }
    assert methods - {"iter_ledger", "close"} == {call[0] for call in CALLS}


def test_both_clients_have_the_same_methods_and_keywords():
    def face(cls: type) -> dict[str, list[tuple[str, Any, Any]]]:
        return {
            name.replace("aclose", "close"): [
                (p.name, p.kind, p.default)
                for p in inspect.signature(member).parameters.values()
                if p.name != "sleep"  # time.sleep / asyncio.sleep
            ]
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    assert face(KucoinClient) == face(AsyncKucoinClient)
    sleep = inspect.signature(AsyncKucoinClient).parameters["sleep"]
    assert sleep.default is asyncio.sleep
    assert inspect.signature(KucoinClient).parameters["sleep"].default is time.sleep


# -- the async client's own face --------------------------------------------


def test_the_async_client_awaits_its_sleep_and_iterates_asynchronously():
    start = 20 * DAY_MS
    fake = FakeSpotLedger([(i, start + i * 1000) for i in range(1, 700)])
    state = {"failed": False}
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if not state["failed"]:
            state["failed"] = True
            return fail(429, "429000", **limits(0, 800))
        return fake(request)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> list[str]:
        async with AsyncKucoinClient(
            "k",
            "s",
            "p",
            base_url=BASE,
            transport=httpx.MockTransport(handler),
            sleep=sleep,
            jitter=lambda: 0.0,
        ) as client:
            return [e.id async for e in client.iter_ledger(start, start + DAY_MS - 1)]

    ids = asyncio.run(main())
    assert ids == [str(i) for i in range(699, 0, -1)]
    assert slept == [0.8 + 0.05]


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's __all__ order (RUF022): CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_every_public_name_is_exported_once_and_sorted():
    exported = kuledger_client.__all__
    assert exported == sorted(exported, key=_isort_key)
    public = {
        name
        for name in dir(kuledger_client)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(kuledger_client, name))
    }
    assert public == set(exported)
