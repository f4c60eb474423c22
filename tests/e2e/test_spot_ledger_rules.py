"""Every rule of GET /api/v1/accounts/ledgers, through HTTP on the real application.

Most tests share one server per engine (`module_api`) and read two users'
histories, posted once with explicit `at` times so each entry sits exactly
where a rule needs it. Tests that need other settings start their own server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kuledger.domain.currencies import DEFAULT_CURRENCIES
from tests.conftest import PostgresDatabases
from tests.support.api import (
    DAY_MS,
    HOUR_MS,
    LEDGER,
    assert_error,
    new_uid,
    now_ms,
    ok_data,
)
from tests.support.server import ApiUser, Server
from tests.support.shared import ENGINES, engine_app

MINUTE_MS = 60_000
KNOWN = [c.code for c in DEFAULT_CURRENCIES]
SPOT_FILTERS = (
    "DEPOSIT",
    "WITHDRAW",
    "TRANSFER",
    "SUB_TRANSFER",
    "TRADE_EXCHANGE",
    "MARGIN_EXCHANGE",
    "KUCOIN_BONUS",
    "BROKER_TRANSFER",
)
PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*[1-9])?")  # canonical: no trailing zeros


def ledger(server: Server, user: ApiUser, query: str = "") -> httpx.Response:
    return server.signed(user, "GET", LEDGER + (f"?{query}" if query else ""))


def items(server: Server, user: ApiUser, query: str = "") -> list[dict[str, Any]]:
    data = ok_data(ledger(server, user, query))
    assert data["totalNum"] == len(data["items"]), "test queries fit one page"
    return list(data["items"])


def times(rows: list[dict[str, Any]]) -> list[int]:
    return [row["createdAt"] for row in rows]


def deposit(uid: str, op_id: str, at: int, amount: str = "1", **extra: Any) -> dict:
    return {
        "op": "deposit",
        "uid": uid,
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
        "at": at,
        **extra,
    }


# --- the timeline user: entries placed around window and page boundaries ---


@dataclass(frozen=True)
class Timeline:
    user: ApiUser
    window: int  # W: entries at W-1, W, W+1, W+24h-1, W+24h, W+24h+1
    pages: int  # P: 25 entries, five at each of P, P+1s, ... P+4s
    recent: dict[str, int]  # entries around "the last 24 h" and one in the future


@pytest.fixture(scope="module")
def timeline(module_api: Server) -> Timeline:
    user = module_api.add_user(new_uid("timeline"))
    now = now_ms()
    w = now - 5 * DAY_MS
    p = now - 3 * DAY_MS
    recent = {  # an hour's margin: the module's tests may run minutes later
        "too_old": now - DAY_MS - HOUR_MS,
        "oldest_in": now - DAY_MS + HOUR_MS,
        "newest_in": now - MINUTE_MS,
        "future": now + HOUR_MS,
    }
    window_times = [w - 1, w, w + 1, w + DAY_MS - 1, w + DAY_MS, w + DAY_MS + 1]
    page_times = [p + (i // 5) * 1000 for i in range(25)]
    ops = [deposit(user.uid, f"w{i}", at) for i, at in enumerate(window_times)]
    ops += [
        deposit(user.uid, f"p{i}", at, str(i + 1)) for i, at in enumerate(page_times)
    ]
    ops += [deposit(user.uid, name, at) for name, at in recent.items()]
    module_api.cli.post(ops)
    return Timeline(user, w, p, recent)


# --- parameter validation: HTTP 200, code 400100, msg names the parameter ---

Query = str | Callable[[int], str]
NON_INTEGERS = ("abc", "1.5", "1e3", str(10**20), "0x10", "+5", quote("١٢"), "")


def _invalid_cases() -> Iterator[Any]:
    yield pytest.param(
        lambda n: f"startAt={n - 2 * DAY_MS}&endAt={n - DAY_MS + 1}",
        "endAt",
        id="window-24h-plus-1ms",
    )
    yield pytest.param(
        lambda n: f"startAt={n - DAY_MS + 1}&endAt={n - DAY_MS}",
        "startAt",
        id="startAt-after-endAt",
    )
    for size in ("9", "501", "0", "-10"):
        yield pytest.param(f"pageSize={size}", "pageSize", id=f"pageSize={size}")
    for page in ("0", "-1", "1000000001"):
        yield pytest.param(f"currentPage={page}", "currentPage", id=f"page={page}")
    eleven = ",".join([*KNOWN, "NOPE"])
    yield pytest.param(f"currency={eleven}", "currency", id="11-currencies")
    for value in ("IN", "Out", "in,out", "inbound"):
        yield pytest.param(f"direction={value}", "direction", id=f"direction={value}")
    for value in (
        "Transfer",
        "transfer",
        "Deposit",
        "DEPOSIT,WITHDRAW",
        "ISOLATED_EXCHANGE",
        "REFERRAL_BONUS",
        "REBATE",
    ):
        yield pytest.param(f"bizType={value}", "bizType", id=f"bizType={value}")
    for name in ("startAt", "endAt", "currentPage", "pageSize"):
        for value in NON_INTEGERS:
            if value:  # an empty value means "not given"; see test below
                yield pytest.param(f"{name}={value}", name, id=f"{name}={value}")
        yield pytest.param(f"{name}=-5", name, id=f"{name}=-5")
    yield pytest.param("startAt=10000000000000", "startAt", id="startAt-over-13-digits")
    yield pytest.param("endAt=10000000000000", "endAt", id="endAt-over-13-digits")
    yield pytest.param(
        lambda n: f"startAt={n - 365 * DAY_MS - HOUR_MS}",
        "startAt",
        id="startAt-before-365-days",
    )
    yield pytest.param(
        lambda n: f"endAt={n - 365 * DAY_MS + HOUR_MS}",
        "startAt",
        id="endAt-only-reaching-before-365-days",
    )
    for name, query in (
        ("currency", "currency=USDT&currency=BTC"),
        ("currency", "currency=USDT&currency=USDT"),
        ("pageSize", "pageSize=10&pageSize=20"),
        ("startAt", lambda n: f"startAt={n - HOUR_MS}&startAt={n - HOUR_MS}"),
        ("bizType", "bizType=DEPOSIT&bizType=WITHDRAW"),
    ):
        yield pytest.param(query, name, id=f"duplicated-{name}")


def _resolve(query: Query) -> str:
    return query(now_ms()) if callable(query) else query


@pytest.mark.parametrize(("query", "parameter"), list(_invalid_cases()))
def test_an_invalid_parameter_is_400100_naming_it(
    module_api, timeline, query, parameter
):
    response = ledger(module_api, timeline.user, _resolve(query))
    assert_error(response, 200, "400100", msg_contains=parameter)


def _valid_cases() -> Iterator[Any]:
    yield pytest.param("", id="no-parameters")
    yield pytest.param(
        lambda n: f"startAt={n - 2 * DAY_MS}&endAt={n - DAY_MS}", id="exactly-24h"
    )
    yield pytest.param(lambda n: f"startAt={n - DAY_MS}&endAt={n - DAY_MS}", id="0-ms")
    for size in ("10", "500"):
        yield pytest.param(f"pageSize={size}", id=f"pageSize={size}")
    yield pytest.param("currentPage=1", id="currentPage=1")
    yield pytest.param("currentPage=1000000000", id="currentPage=max")
    yield pytest.param(f"currency={','.join(KNOWN)}", id="10-currencies")
    yield pytest.param("direction=in", id="direction=in")
    yield pytest.param("direction=out", id="direction=out")
    for value in SPOT_FILTERS:
        yield pytest.param(f"bizType={value}", id=f"bizType={value}")
    yield pytest.param(
        lambda n: f"startAt={n - 365 * DAY_MS + HOUR_MS}", id="startAt-inside-365-days"
    )
    yield pytest.param(
        "currency=&direction=&bizType=&startAt=&endAt=&currentPage=&pageSize=",
        id="empty-values-mean-absent",
    )


@pytest.mark.parametrize("query", list(_valid_cases()))
def test_a_valid_parameter_is_accepted(module_api, timeline, query):
    data = ok_data(ledger(module_api, timeline.user, _resolve(query)))
    assert set(data) == {"currentPage", "pageSize", "totalNum", "totalPage", "items"}


def test_defaults_are_page_1_of_50(module_api, timeline):
    data = ok_data(ledger(module_api, timeline.user))
    assert (data["currentPage"], data["pageSize"]) == (1, 50)


# --- the time window ---


def test_bounds_are_inclusive_and_a_missing_bound_is_24h_from_the_other(
    module_api, timeline
):
    w, server, user = timeline.window, module_api, timeline.user
    both = items(server, user, f"startAt={w}&endAt={w + DAY_MS}")
    assert times(both) == [w + DAY_MS, w + DAY_MS - 1, w + 1, w]
    assert items(server, user, f"startAt={w}") == both
    assert items(server, user, f"endAt={w + DAY_MS}") == both
    assert times(items(server, user, f"startAt={w + 1}")) == [
        w + DAY_MS + 1,
        w + DAY_MS,
        w + DAY_MS - 1,
        w + 1,
    ]
    assert times(items(server, user, f"endAt={w + DAY_MS - 1}")) == [
        w + DAY_MS - 1,
        w + 1,
        w,
        w - 1,
    ]
    assert times(items(server, user, f"startAt={w}&endAt={w}")) == [w]


def test_no_bounds_means_the_24h_ending_now(module_api, timeline):
    recent = timeline.recent
    assert times(items(module_api, timeline.user)) == [
        recent["newest_in"],
        recent["oldest_in"],
    ]


@pytest.fixture(scope="module", params=ENGINES)
def tuned_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[Server]:
    """A server keeping one day of history and answering display names."""
    env = {"KULEDGER_RETENTION_DAYS": "1", "KULEDGER_BIZ_TYPE_STYLE": "display"}
    with engine_app(
        request.param, tmp_path_factory, postgres_databases, env
    ) as running:
        yield running


def test_with_a_retention_of_one_day_older_windows_are_refused(tuned_server):
    server = tuned_server
    user = server.add_user(new_uid("short-memory"))
    now = now_ms()
    server.cli.post([deposit(user.uid, "d1", now - 2 * HOUR_MS)])
    for query in (
        f"startAt={now - 2 * DAY_MS}",
        f"startAt={now - DAY_MS - HOUR_MS}&endAt={now - HOUR_MS}",
        f"endAt={now - HOUR_MS}",  # startAt = endAt - 24 h
    ):
        msg = assert_error(
            ledger(server, user, query), 200, "400100", msg_contains="startAt"
        )
        assert "1 days" in msg
    assert len(items(server, user)) == 1  # no bounds: now-24h is still inside
    assert len(items(server, user, f"startAt={now - DAY_MS + HOUR_MS}")) == 1


# --- paging ---


def test_pages_partition_the_window_newest_first(module_api, timeline):
    p, server, user = timeline.pages, module_api, timeline.user
    window = f"startAt={p}&endAt={p + 5000}"
    whole = items(server, user, window)
    assert len(whole) == 25
    pages = []
    for page in (1, 2, 3):
        data = ok_data(ledger(server, user, f"{window}&pageSize=10&currentPage={page}"))
        assert (data["currentPage"], data["pageSize"]) == (page, 10)
        assert (data["totalNum"], data["totalPage"]) == (25, 3)
        pages.append(data["items"])
    assert [len(page) for page in pages] == [10, 10, 5]  # the last page is partial
    assert [row for page in pages for row in page] == whole


@pytest.mark.parametrize("page", [4, 5, 1000])
def test_a_page_beyond_the_last_is_empty_with_the_true_totals(
    module_api, timeline, page
):
    p = timeline.pages
    query = f"startAt={p}&endAt={p + 5000}&pageSize=10&currentPage={page}"
    data = ok_data(ledger(module_api, timeline.user, query))
    assert data == {
        "currentPage": page,
        "pageSize": 10,
        "totalNum": 25,
        "totalPage": 3,
        "items": [],
    }


def test_an_empty_window_has_zero_pages(module_api, timeline):
    start = timeline.pages + HOUR_MS
    data = ok_data(ledger(module_api, timeline.user, f"startAt={start}"))
    assert data == {
        "currentPage": 1,
        "pageSize": 50,
        "totalNum": 0,
        "totalPage": 0,
        "items": [],
    }


def test_newest_first_and_ties_broken_by_id_descending(module_api, timeline):
    p = timeline.pages
    rows = items(module_api, timeline.user, f"startAt={p}&endAt={p + 5000}")
    keys = [(row["createdAt"], int(row["id"])) for row in rows]
    assert keys == sorted(keys, reverse=True)
    assert len({row["createdAt"] for row in rows}) == 5  # five entries per instant
    # ids follow posting order, so within a tie the later deposit comes first
    amounts = [int(row["amount"]) for row in rows]
    assert amounts == list(range(25, 0, -1))


# --- the history user: one entry of every kind, in every account type ---

ORDER = {"context": {"txId": "0xabc"}}


@dataclass(frozen=True)
class History:
    user: ApiUser
    sub: ApiUser
    start: int
    expected: list[tuple[Any, ...]]  # newest first; see row_key

    @property
    def window(self) -> str:
        return f"startAt={self.start}&endAt={self.start + DAY_MS}"


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["createdAt"],
        row["accountType"],
        row["bizType"],
        row["direction"],
        row["currency"],
        row["amount"],  # compared as wire text: canonical, no trailing zeros
        row["fee"],
        row["balance"],
    )


def _history_ops(uid: str, sub: str, t0: int) -> tuple[list[dict], list[tuple]]:
    """Operations one second apart and the classic-ledger rows they must make,
    in posting order: (k, accountType, bizType, direction, currency, amount,
    fee, post-entry balance). Operations with no row are not in the classic
    ledger (trade_hf, margin_v2, isolated_v2, contract non-transfers)."""
    ops: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []

    def op(kind: str, **fields: Any) -> None:
        ops.append({"op": kind, "uid": uid, "id": f"h{len(ops)}", **fields})
        ops[-1]["at"] = t0 + 1000 * (len(ops) - 1)

    def row(*values: Any) -> None:
        rows.append((t0 + 1000 * (len(ops) - 1), *values))

    def trade(account: str, size: str, fee: str = "0") -> None:
        op(
            "trade",
            account=account,
            symbol="BTC-USDT",
            side="buy",
            price="20000",
            size=size,
            fee=fee,
            order_id=f"o{len(ops)}",
            trade_id=f"t{len(ops)}",
        )

    usdt = {"currency": "USDT"}
    op("deposit", amount="1000", **usdt, **ORDER)
    row("MAIN", "DEPOSIT", "in", "USDT", "1000", "0", "1000")
    op("withdrawal", amount="100", fee="1", **usdt)
    row("MAIN", "WITHDRAW", "out", "USDT", "100", "1", "900")
    op("transfer", amount="300", **{"from": "main", "to": "trade"}, **usdt)
    row("MAIN", "TRANSFER", "out", "USDT", "300", "0", "600")
    row("TRADE", "TRANSFER", "in", "USDT", "300", "0", "300")
    op("sub_transfer", amount="50", sub_uid=sub, direction="to_sub", **usdt)
    row("MAIN", "SUB_TRANSFER", "out", "USDT", "50", "0", "550")
    trade("trade", "0.01", fee="0.2")
    row("TRADE", "TRADE_EXCHANGE", "out", "USDT", "200.2", "0.2", "99.8")
    row("TRADE", "TRADE_EXCHANGE", "in", "BTC", "0.01", "0", "0.01")
    op("transfer", amount="100", **{"from": "main", "to": "margin"}, **usdt)
    row("MAIN", "TRANSFER", "out", "USDT", "100", "0", "450")
    row("MARGIN", "TRANSFER", "in", "USDT", "100", "0", "100")
    trade("margin", "0.001")
    row("MARGIN", "MARGIN_EXCHANGE", "out", "USDT", "20", "0", "80")
    row("MARGIN", "MARGIN_EXCHANGE", "in", "BTC", "0.001", "0", "0.001")
    for biz, amount, balance in (
        ("KUCOIN_BONUS", "5", "455"),
        ("BROKER_TRANSFER", "7", "462"),
        ("REFERRAL_BONUS", "1", "463"),  # no bizType filter selects it
    ):
        op(
            "adjust",
            account="main",
            amount=amount,
            direction="in",
            biz_type=biz,
            **usdt,
        )
        row("MAIN", biz, "in", "USDT", amount, "0", balance)
    op("transfer", amount="10", **{"from": "main", "to": "isolated"}, **usdt)
    row("MAIN", "TRANSFER", "out", "USDT", "10", "0", "453")
    row("ISOLATED", "TRANSFER", "in", "USDT", "10", "0", "10")
    trade("isolated", "0.0001")  # ISOLATED_EXCHANGE: no bizType filter selects it
    row("ISOLATED", "ISOLATED_EXCHANGE", "out", "USDT", "2", "0", "8")
    row("ISOLATED", "ISOLATED_EXCHANGE", "in", "BTC", "0.0001", "0", "0.0001")
    op("transfer", amount="20", **{"from": "main", "to": "contract"}, **usdt)
    row("MAIN", "TRANSFER", "out", "USDT", "20", "0", "433")
    row("CONTRACT", "TRANSFER", "in", "USDT", "20", "0", "20")
    op(
        "adjust",
        account="contract",
        amount="3",
        direction="in",
        biz_type="REALISED_PNL",
        **usdt,
    )  # contract, not a transfer: futures ledger only (contract balance 23)
    op("deposit", account="trade_hf", amount="40", **usdt)  # HF ledger only
    op("transfer", amount="15", **{"from": "main", "to": "trade_hf"}, **usdt)
    row("MAIN", "TRANSFER", "out", "USDT", "15", "0", "418")  # the HF leg is hidden
    trade("trade_hf", "0.001")  # HF ledger only
    op("deposit", account="margin_v2", amount="9", **usdt)  # margin HF ledger only
    op("deposit", account="isolated_v2", amount="9", **usdt)  # margin HF ledger only
    op("deposit", account="option", amount="4", **usdt)
    row("OPTION", "DEPOSIT", "in", "USDT", "4", "0", "4")
    op("transfer", amount="5", **{"from": "contract", "to": "main"}, **usdt)
    row("CONTRACT", "TRANSFER", "out", "USDT", "5", "0", "18")
    row("MAIN", "TRANSFER", "in", "USDT", "5", "0", "423")
    return ops, rows


@pytest.fixture(scope="module")
def history(module_api: Server) -> History:
    user = module_api.add_user(new_uid("hist"))
    sub = module_api.add_user(new_uid("histsub"), parent=user.uid)
    start = now_ms() - 2 * DAY_MS
    ops, rows = _history_ops(user.uid, sub.uid, start)
    module_api.cli.post(ops)
    return History(user, sub, start, list(reversed(rows)))


def test_the_ledger_has_every_classic_entry_with_its_real_balance(module_api, history):
    rows = items(module_api, history.user, history.window)
    assert [row_key(row) for row in rows] == history.expected


def test_hf_margin_v2_and_contract_entries_stay_out_but_contract_transfers_show(
    module_api, history
):
    rows = items(module_api, history.user, history.window)
    types = {row["accountType"] for row in rows}
    assert types == {"MAIN", "TRADE", "MARGIN", "ISOLATED", "CONTRACT", "OPTION"}
    contract = [row for row in rows if row["accountType"] == "CONTRACT"]
    assert {row["bizType"] for row in contract} == {"TRANSFER"}
    assert len(contract) == 2


@pytest.mark.parametrize("biz_type", SPOT_FILTERS)
def test_each_biz_type_filter_selects_exactly_its_entries(
    module_api, history, biz_type
):
    query = f"{history.window}&bizType={biz_type}"
    rows = items(module_api, history.user, query)
    expected = [key for key in history.expected if key[2] == biz_type]
    assert expected, "the history has an entry of every filterable type"
    assert [row_key(row) for row in rows] == expected


@pytest.mark.parametrize("direction", ["in", "out"])
def test_the_direction_filter(module_api, history, direction):
    rows = items(module_api, history.user, f"{history.window}&direction={direction}")
    expected = [key for key in history.expected if key[3] == direction]
    assert [row_key(row) for row in rows] == expected


def test_filters_combine(module_api, history):
    query = f"{history.window}&bizType=TRANSFER&direction=in&currency=USDT"
    rows = items(module_api, history.user, query)
    assert {row["accountType"] for row in rows} == {
        "TRADE",
        "MARGIN",
        "ISOLATED",
        "CONTRACT",
        "MAIN",
    }
    assert all(row["direction"] == "in" for row in rows)


def test_the_sub_account_sees_its_side_of_a_sub_transfer(module_api, history):
    [row] = items(module_api, history.sub, history.window)
    assert (row["accountType"], row["bizType"], row["direction"]) == (
        "MAIN",
        "SUB_TRANSFER",
        "in",
    )
    assert (row["amount"], row["balance"]) == ("50", "50")


@pytest.mark.parametrize(
    ("currencies", "expected"),
    [
        ("BTC", {"BTC"}),
        ("BTC,USDT", {"BTC", "USDT"}),
        ("NOPE", set()),
        ("NOPE,BTC", {"BTC"}),
        ("btc", set()),  # codes are case-sensitive
        ("BTC,BTC", {"BTC"}),
    ],
)
def test_the_currency_filter(module_api, history, currencies, expected):
    data = ok_data(
        ledger(module_api, history.user, f"{history.window}&currency={currencies}")
    )
    assert {row["currency"] for row in data["items"]} == expected
    count = sum(1 for key in history.expected if key[4] in expected)
    assert data["totalNum"] == len(data["items"]) == count


def test_item_json_types(module_api, history):
    rows = items(module_api, history.user, history.window)
    for row in rows:
        assert set(row) == {
            "id",
            "currency",
            "amount",
            "fee",
            "balance",
            "accountType",
            "bizType",
            "direction",
            "createdAt",
            "context",
        }
        for name, value in row.items():
            expected = int if name == "createdAt" else str
            assert type(value) is expected, (name, value)
        assert row["id"].isdigit()
        for name in ("amount", "fee", "balance"):
            assert PLAIN_DECIMAL.fullmatch(row[name]), (name, row[name])
    by_biz = {row["bizType"]: row for row in rows}  # the oldest of each kind
    assert json.loads(by_biz["DEPOSIT"]["context"]) == ORDER["context"]
    trade = json.loads(by_biz["TRADE_EXCHANGE"]["context"])
    assert trade["symbol"] == "BTC-USDT"
    assert {"orderId", "tradeId"} <= set(trade)
    assert by_biz["TRANSFER"]["context"] == ""


def test_display_style_returns_kucoin_display_names(tuned_server):
    server = tuned_server
    user = server.add_user(new_uid("display"))
    start = now_ms() - 12 * HOUR_MS  # inside the tuned server's one day
    ops, _ = _history_ops(user.uid, "none", start)
    server.cli.post([op for op in ops if op["op"] != "sub_transfer"])
    window = f"startAt={start}&endAt={start + HOUR_MS}"
    names = {row["bizType"] for row in items(server, user, window)}
    assert {"Deposit", "Withdrawal", "Transfer", "Trade_Exchange"} <= names
    assert {"Margin Trade", "KuCoin Bonus", "Referral Bonus"} <= names
    assert not {name for name in names if name.isupper() and "_" in name} - {
        "BROKER_TRANSFER"  # KuCoin's display name is the code itself
    }
    trades = items(server, user, f"{window}&bizType=TRADE_EXCHANGE")
    assert {row["bizType"] for row in trades} == {"Trade_Exchange"}
    assert len(trades) == 2
    assert_error(
        ledger(server, user, f"{window}&bizType=Trade_Exchange"),
        200,
        "400100",
        msg_contains="bizType",
    )
