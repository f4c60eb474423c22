"""`kuledger export --format koinly|cointracking|kucoin` from the real app
(in process, on SQLite and PostgreSQL): each tool's published header, rows
for a deposit, a withdrawal with a fee, trade legs (fee in the quote, in the
base and in KCS), an internal transfer and a bonus; rows that add up to the
ledger's movements; and an interrupted export resumed to the same bytes."""

from __future__ import annotations

import csv
import functools
import io
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import kuledger.cli.export as export_command
from kuledger.cli.main import cli
from kuledger.cli.tax_categories import BY_CODE, NAMES, Category, category_of
from kuledger.domain.biztypes import CATALOGUE
from kuledger_client import KucoinClient, TransportError
from tests.conftest import PostgresDatabases
from tests.support.api import DAY_MS, new_uid, now_ms
from tests.support.direct import direct
from tests.support.inprocess import InProcessServer
from tests.support.server import ApiUser
from tests.support.shared import ENGINES, engine_app

# The published import columns (docs/export.md cites where each comes from).
KOINLY = (
    "Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,"
    "Fee Currency,Net Worth Amount,Net Worth Currency,Label,Description,TxHash"
)
COINTRACKING = (
    "Type,Buy Amount,Buy Currency,Sell Amount,Sell Currency,Fee,Fee Currency,"
    "Exchange,Trade-Group,Comment,Date,Tx-ID,Buy Value in Account Currency,"
    "Sell Value in Account Currency,Liquidity pool"
)
KUCOIN = "UID,Account Type,Currency,Side,Amount,Fee,Time(UTC+00:00),Remark,Type"


@pytest.fixture(scope="module", params=ENGINES)
def app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[InProcessServer]:
    with engine_app(request.param, tmp_path_factory, postgres_databases) as s:
        yield s


def history(uid: str, start: int) -> list[dict[str, Any]]:
    """Three days: deposits, an internal transfer, three fills, a withdrawal
    with a fee and a bonus."""
    day2, day3 = start + DAY_MS, start + 2 * DAY_MS
    trade = {"op": "trade", "uid": uid, "symbol": "BTC-USDT"}
    return [
        {"op": "deposit", "uid": uid, "id": "d1", "currency": "USDT",
         "amount": "1000", "at": start},
        {"op": "deposit", "uid": uid, "id": "d2", "currency": "KCS",
         "amount": "10", "account": "trade", "at": start + 1000},
        {"op": "transfer", "uid": uid, "id": "t1", "currency": "USDT",
         "amount": "600", "from": "main", "to": "trade", "at": start + 2000},
        {**trade, "id": "x1", "side": "buy", "price": "20000", "size": "0.01",
         "fee": "0.2", "order_id": "o1", "trade_id": "tr1", "at": day2},
        {**trade, "id": "x2", "side": "sell", "price": "21000", "size": "0.004",
         "fee": "0.000004", "fee_currency": "BTC", "order_id": "o2",
         "trade_id": "tr2", "at": day2 + 1000},
        {**trade, "id": "x3", "side": "buy", "price": "20000", "size": "0.001",
         "fee": "0.05", "fee_currency": "KCS", "order_id": "o3",
         "trade_id": "tr3", "at": day2 + 2000},
        {"op": "withdrawal", "uid": uid, "id": "w1", "currency": "USDT",
         "amount": "100", "fee": "1", "at": day3},
        {"op": "adjust", "uid": uid, "id": "b1", "currency": "USDT", "account": "main",
         "amount": "5", "direction": "in", "biz_type": "KUCOIN_BONUS",
         "context": "{\"campaign\":\"welcome\"}", "at": day3 + 1000},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def seeded(app: InProcessServer) -> tuple[ApiUser, int]:
    start = (now_ms() - 4 * DAY_MS) // 1000 * 1000  # whole seconds
    with direct(app) as db:
        user = db.add_user(new_uid("tax"))
        db.post(history(user.uid, start))
    return user, start


def run_export(
    app: InProcessServer,
    user: ApiUser,
    start: int,
    out: Path,
    fmt: str,
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
) -> Result:
    client = functools.partial(KucoinClient, transport=app.transport)
    monkeypatch.setattr(export_command, "KucoinClient", client)
    args = ["export", "--base-url", app.base_url, "--since", str(start - 1000)]
    args += ["--until", str(start + 3 * DAY_MS), "--format", fmt, "--out", str(out)]
    env = {
        "KULEDGER_API_KEY": user.key,
        "KULEDGER_API_SECRET": user.secret,
        "KULEDGER_API_PASSPHRASE": user.passphrase,
    }
    return CliRunner().invoke(cli, [*args, "--quiet", *extra], env=env)


def exported(app, seeded, tmp_path, monkeypatch, fmt, *extra) -> list[dict[str, str]]:
    user, start = seeded
    out = tmp_path / f"{fmt}.csv"
    result = run_export(app, user, start, out, fmt, monkeypatch, *extra)
    assert result.exit_code == 0, result.output + result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == {"koinly": KOINLY, "cointracking": COINTRACKING,
                                    "kucoin": KUCOIN}[fmt]  # fmt: skip
    return list(csv.DictReader(io.StringIO(text)))


def moment(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def pick(row: dict[str, str], *columns: str) -> tuple[str, ...]:
    return tuple(row[c] for c in columns)


def test_koinly_rows_follow_the_universal_format(app, seeded, tmp_path, monkeypatch):
    rows = exported(app, seeded, tmp_path, monkeypatch, "koinly")
    _, start = seeded
    money = ("Date", "Sent Amount", "Sent Currency", "Received Amount",
             "Received Currency", "Fee Amount", "Fee Currency", "Label")  # fmt: skip
    assert [pick(r, *money) for r in rows] == [
        (moment(start), "", "", "1000", "USDT", "", "", ""),  # deposit
        (moment(start + 1000), "", "", "10", "KCS", "", "", ""),
        # the internal transfer is left out; trades: one row each
        (moment(start + DAY_MS), "200", "USDT", "0.01", "BTC", "0.2", "USDT", ""),
        (moment(start + DAY_MS + 1000), "0.004", "BTC", "84", "USDT", "0.000004",
         "BTC", ""),
        (moment(start + DAY_MS + 2000), "20", "USDT", "0.001", "BTC", "0.05", "KCS",
         ""),
        # withdrawal: 100 leaves the account, 1 of it the fee
        (moment(start + 2 * DAY_MS), "99", "USDT", "", "", "1", "USDT", ""),
        (moment(start + 2 * DAY_MS + 1000), "", "", "5", "USDT", "", "", "reward"),
    ]  # fmt: skip
    assert rows[6]["Description"] == 'KUCOIN_BONUS {"campaign":"welcome"}'
    assert rows[2]["TxHash"].startswith("spot:") and "+" in rows[2]["TxHash"]
    assert len(rows[4]["TxHash"].split("+")) == 3  # the KCS fee leg is in it
    assert len({r["TxHash"] for r in rows}) == len(rows)


def test_cointracking_rows_follow_its_csv_import(app, seeded, tmp_path, monkeypatch):
    rows = exported(app, seeded, tmp_path, monkeypatch, "cointracking")
    _, start = seeded
    money = ("Type", "Buy Amount", "Buy Currency", "Sell Amount", "Sell Currency",
             "Fee", "Fee Currency", "Date")  # fmt: skip
    day2 = start + DAY_MS
    assert [pick(r, *money) for r in rows] == [
        ("Deposit", "1000", "USDT", "", "", "", "", moment(start)),
        ("Deposit", "10", "KCS", "", "", "", "", moment(start + 1000)),
        # Buy and Sell are what moved; the fee is shown, not taken again
        ("Trade", "0.01", "BTC", "200.2", "USDT", "0.2", "USDT", moment(day2)),
        ("Trade", "84", "USDT", "0.004004", "BTC", "0.000004", "BTC",
         moment(day2 + 1000)),
        ("Trade", "0.001", "BTC", "20", "USDT", "", "", moment(day2 + 2000)),
        ("Other Fee", "", "", "0.05", "KCS", "", "", moment(day2 + 2000)),
        ("Withdrawal", "", "", "100", "USDT", "1", "USDT", moment(start + 2 * DAY_MS)),
        ("Reward / Bonus", "5", "USDT", "", "", "", "",
         moment(start + 2 * DAY_MS + 1000)),
    ]  # fmt: skip
    assert {r["Exchange"] for r in rows} == {"KuCoin"}
    assert {r["Trade-Group"] for r in rows} == {"spot"}
    assert len({r["Tx-ID"] for r in rows}) == len(rows)


def test_kucoin_rows_are_its_account_history(app, seeded, tmp_path, monkeypatch):
    user, start = seeded
    rows = exported(app, seeded, tmp_path, monkeypatch, "kucoin", "--uid", user.uid)
    columns = ("UID", "Account Type", "Currency", "Side", "Amount", "Fee", "Type")
    assert [pick(r, *columns) for r in rows] == [
        (user.uid, "mainAccount", "USDT", "Deposit", "1000", "0", "Deposit"),
        (user.uid, "tradeAccount", "KCS", "Deposit", "10", "0", "Deposit"),
        (user.uid, "mainAccount", "USDT", "Withdrawal", "600", "0", "Transfer"),
        (user.uid, "tradeAccount", "USDT", "Deposit", "600", "0", "Transfer"),
        (user.uid, "tradeAccount", "USDT", "Withdrawal", "200.2", "0.2",
         "Trade_Exchange"),
        (user.uid, "tradeAccount", "BTC", "Deposit", "0.01", "0", "Trade_Exchange"),
        (user.uid, "tradeAccount", "BTC", "Withdrawal", "0.004004", "0.000004",
         "Trade_Exchange"),
        (user.uid, "tradeAccount", "USDT", "Deposit", "84", "0", "Trade_Exchange"),
        (user.uid, "tradeAccount", "USDT", "Withdrawal", "20", "0", "Trade_Exchange"),
        (user.uid, "tradeAccount", "KCS", "Withdrawal", "0.05", "0.05",
         "Trade_Exchange"),
        (user.uid, "tradeAccount", "BTC", "Deposit", "0.001", "0", "Trade_Exchange"),
        (user.uid, "mainAccount", "USDT", "Withdrawal", "100", "1", "Withdrawal"),
        (user.uid, "mainAccount", "USDT", "Deposit", "5", "0", "KuCoin Bonus"),
    ]  # fmt: skip
    assert rows[0]["Time(UTC+00:00)"] == moment(start)
    assert rows[-1]["Remark"] == '{"campaign":"welcome"}'


def ledger_net(app: InProcessServer, uid: str) -> dict[str, Decimal]:
    net: dict[str, Decimal] = defaultdict(Decimal)
    for item in app.cli.json("ledger", "--uid", uid, "--json"):
        sign = 1 if item["direction"] == "in" else -1
        net[item["currency"]] += sign * Decimal(item["amount"])
    return net


def _sum(rows, amount: str, currency: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row[amount]:
            totals[row[currency]] += Decimal(row[amount])
    return totals


def koinly_net(rows: list[dict[str, str]]) -> dict[str, Decimal]:
    """Received - Sent - Fee, per currency."""
    got: dict[str, Decimal] = defaultdict(Decimal)
    for column, currency, sign in (("Received Amount", "Received Currency", 1),
                                   ("Sent Amount", "Sent Currency", -1),
                                   ("Fee Amount", "Fee Currency", -1)):  # fmt: skip
        for code, total in _sum(rows, column, currency).items():
            got[code] += sign * total
    return {c: v for c, v in got.items() if v}


def cointracking_net(rows: list[dict[str, str]]) -> dict[str, Decimal]:
    """Buy - Sell, per currency (the fee is inside them)."""
    got: dict[str, Decimal] = defaultdict(Decimal)
    for code, total in _sum(rows, "Buy Amount", "Buy Currency").items():
        got[code] += total
    for code, total in _sum(rows, "Sell Amount", "Sell Currency").items():
        got[code] -= total
    return {c: v for c, v in got.items() if v}


def test_each_tools_arithmetic_gives_back_the_ledgers_movements(
    app, seeded, tmp_path, monkeypatch
):
    user, _ = seeded
    net = {c: v for c, v in ledger_net(app, user.uid).items() if v}
    koinly = exported(app, seeded, tmp_path, monkeypatch, "koinly")
    assert koinly_net(koinly) == net
    tracking = exported(app, seeded, tmp_path, monkeypatch, "cointracking")
    assert cointracking_net(tracking) == net


def test_an_interrupted_tax_export_resumes_to_the_same_bytes(
    app, seeded, tmp_path, monkeypatch
):
    user, start = seeded
    whole = tmp_path / "whole.csv"
    assert run_export(app, user, start, whole, "koinly", monkeypatch).exit_code == 0
    calls = {"n": 0}
    real = KucoinClient.iter_ledger

    def failing_third_window(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise TransportError("connection reset", transient=True)
        return real(self, *args, **kwargs)

    out = tmp_path / "part.csv"
    with monkeypatch.context() as patch:
        patch.setattr(KucoinClient, "iter_ledger", failing_third_window)
        broken = run_export(app, user, start, out, "koinly", patch)
    assert broken.exit_code == 1 and "--resume continues" in broken.stderr
    assert not out.exists()
    resumed = run_export(app, user, start, out, "koinly", monkeypatch, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert out.read_bytes() == whole.read_bytes()
    assert "left out: 2 internal transfers" in resumed.stdout


@pytest.mark.parametrize("biz", CATALOGUE, ids=lambda b: b.code)
def test_every_business_type_has_a_category_and_its_row_in_export_md(biz):
    assert biz.code in BY_CODE, f"{biz.code} has no tax category"
    text = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    names = NAMES[BY_CODE[biz.code]]
    [row] = [line for line in text.splitlines() if line.startswith(f"| `{biz.code}`")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == BY_CODE[biz.code].value
    for name in (names.koinly_in, names.koinly_out):
        assert not name or f"`{name}`" in cells[2]
    for name in (names.cointracking_in, names.cointracking_out):
        assert not name or f"`{name}`" in cells[3]


def test_display_names_as_kucoin_answers_them_have_the_codes_category():
    assert category_of("KuCoin Bonus") is Category.REWARD
    assert category_of("Trade_Exchange") is Category.TRADE
    assert category_of("Transfer") is Category.INTERNAL
    assert category_of("TransferIn", futures=True) is Category.INTERNAL
    assert category_of("RealisedPNL", futures=True) is Category.PNL
    assert category_of("Something New") is Category.DEPOSIT


@pytest.fixture(scope="module")
def hf_seeded(app: InProcessServer) -> tuple[ApiUser, int]:
    """An HF user: a trade on trade_hf, futures profits and a loss, and the
    transfers that fund them (internal: spot out, hf or futures in)."""
    start = (now_ms() - 4 * DAY_MS) // 1000 * 1000
    with direct(app) as db:
        user = db.add_user(new_uid("taxhf"), hf=True)
        uid = user.uid
        db.post([
            {"op": "deposit", "uid": uid, "id": "d1", "currency": "USDT",
             "amount": "1000", "at": start},
            {"op": "transfer", "uid": uid, "id": "t1", "currency": "USDT",
             "amount": "300", "from": "main", "to": "trade_hf", "at": start + 1000},
            {"op": "transfer", "uid": uid, "id": "t2", "currency": "USDT",
             "amount": "200", "from": "main", "to": "contract", "at": start + 2000},
            {"op": "trade", "uid": uid, "id": "x1", "symbol": "ETH-USDT",
             "side": "buy", "price": "2000", "size": "0.1", "fee": "0.2",
             "order_id": "o1", "trade_id": "tr1", "at": start + DAY_MS},
            {"op": "realised_pnl", "uid": uid, "id": "p1", "currency": "USDT",
             "pnl": "12.5", "fee": "0.5", "symbol": "XBTUSDTM",
             "at": start + DAY_MS + 1000},
            {"op": "realised_pnl", "uid": uid, "id": "p2", "currency": "USDT",
             "pnl": "-3", "fee": "0.2", "symbol": "XBTUSDTM",
             "at": start + 2 * DAY_MS},
        ])  # fmt: skip
    return user, start


def test_every_ledger_at_once_hf_trades_and_futures_pnl(
    app, hf_seeded, tmp_path, monkeypatch
):
    user, _ = hf_seeded
    koinly = exported(
        app, hf_seeded, tmp_path, monkeypatch, "koinly", "--ledger", "all"
    )
    money = ("Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
             "Fee Amount", "Fee Currency", "Label")  # fmt: skip
    assert [(r["TxHash"].split(":")[0], *pick(r, *money)) for r in koinly] == [
        ("spot", "", "", "1000", "USDT", "", "", ""),
        ("hf", "200", "USDT", "0.1", "ETH", "0.2", "USDT", ""),
        # a profit of 12.5, 0.5 fee on top; a loss of 3, 0.2 fee on top
        ("futures", "", "", "12.5", "USDT", "0.5", "USDT", "realized gain"),
        ("futures", "3", "USDT", "", "", "0.2", "USDT", "realized gain"),
    ]  # fmt: skip
    tracking = exported(
        app, hf_seeded, tmp_path, monkeypatch, "cointracking", "--ledger", "all"
    )
    assert [pick(r, "Type", "Buy Amount", "Sell Amount", "Trade-Group")
            for r in tracking] == [
        ("Deposit", "1000", "", "spot"),
        ("Trade", "0.1", "200.2", "hf"),
        ("Derivatives / Futures Profit", "12", "", "futures"),
        ("Derivatives / Futures Loss", "", "3.2", "futures"),
    ]  # fmt: skip
    kucoin = exported(
        app, hf_seeded, tmp_path, monkeypatch, "kucoin", "--ledger", "all"
    )
    futures = [r for r in kucoin if r["Account Type"] == "futuresAccount"]
    assert [pick(r, "Side", "Amount", "Fee", "Type") for r in futures] == [
        ("Deposit", "200", "0", "Transfer"),  # the contract leg, in the spot ledger
        ("Deposit", "200", "0", "TransferIn"),  # and in the futures ledger
        ("Deposit", "12", "0.5", "RealisedPNL"),
        ("Withdrawal", "3.2", "0.2", "RealisedPNL"),
    ]
    assert {r["UID"] for r in kucoin} == {""}  # no --uid given
    net = {c: v for c, v in ledger_net(app, user.uid).items() if v}
    assert koinly_net(koinly) == net == cointracking_net(tracking)


def test_a_transfer_to_a_sub_account_is_a_plain_withdrawal_to_match(
    app, tmp_path, monkeypatch
):
    """Another wallet of the same person: no label, no tax type of its own;
    the tool matches it with the sub-account's deposit."""
    from kuledger.services import users

    start = (now_ms() - 2 * DAY_MS) // 1000 * 1000
    with direct(app) as db:
        master = db.add_user(new_uid("taxm"))
        sub = new_uid("taxs")
        c = db.container
        users.create_user(c.uow, c.clock, uid=sub, parent_uid=master.uid)
        db.post([
            {"op": "deposit", "uid": master.uid, "id": "d1", "currency": "USDT",
             "amount": "100", "at": start},
            {"op": "sub_transfer", "uid": master.uid, "id": "s1", "currency": "USDT",
             "amount": "40", "sub_uid": sub, "direction": "to_sub",
             "at": start + 1000},
        ])  # fmt: skip
    seeded = (master, start)
    koinly = exported(app, seeded, tmp_path, monkeypatch, "koinly")
    columns = ("Sent Amount", "Sent Currency", "Received Amount", "Label")
    assert [pick(r, *columns) for r in koinly] == [
        ("", "", "100", ""),
        ("40", "USDT", "", ""),
    ]
    assert koinly[1]["Description"].startswith("SUB_TRANSFER")
    tracking = exported(app, seeded, tmp_path, monkeypatch, "cointracking")
    assert [pick(r, "Type", "Sell Amount") for r in tracking] == [
        ("Deposit", ""),
        ("Withdrawal", "40"),
    ]
