"""`kuledger balance --at` and `kuledger statement --month`, on real SQLite
files and PostgreSQL: balances at a time from the post-balances, and month
statements that reconcile to the entries (or exit 2 saying they do not)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from kuledger.cli.main import cli
from tests.support.server import database_env

JAN = 1767225600000  # 2026-01-01T00:00:00Z
FEB = 1769904000000  # 2026-02-01T00:00:00Z
DEC = JAN - 31 * 86_400_000  # 2025-12-01T00:00:00Z


class Cli:
    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.env = database_env(url, tmp_path)

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=stdin, env=self.env)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self(*args, stdin=stdin)
        assert result.exit_code == 0, result.output + result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args))

    def post(self, *ops: dict[str, Any]) -> None:
        self.ok("post", "--atomic", stdin="".join(json.dumps(o) + "\n" for o in ops))


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Cli:
    return Cli(database_url, tmp_path)


def history(uid: str) -> list[dict[str, Any]]:
    """December, January (its first and last millisecond too) and February."""
    return [
        {"op": "deposit", "uid": uid, "id": "d0", "currency": "USDT",
         "amount": "1000", "at": DEC + 5},
        {"op": "deposit", "uid": uid, "id": "d1", "currency": "USDT",
         "amount": "250.5", "at": JAN - 1},
        {"op": "deposit", "uid": uid, "id": "d2", "currency": "USDT",
         "amount": "10", "at": JAN},
        {"op": "transfer", "uid": uid, "id": "t1", "currency": "USDT",
         "amount": "600", "from": "main", "to": "trade", "at": JAN + 1000},
        {"op": "trade", "uid": uid, "id": "x1", "symbol": "BTC-USDT", "side": "buy",
         "price": "20000", "size": "0.01", "fee": "0.2", "order_id": "o1",
         "trade_id": "tr1", "at": JAN + 2000},
        {"op": "trade", "uid": uid, "id": "x2", "symbol": "BTC-USDT", "side": "sell",
         "price": "21000", "size": "0.004", "fee": "0.084", "order_id": "o2",
         "trade_id": "tr2", "at": JAN + 3000},
        {"op": "withdrawal", "uid": uid, "id": "w1", "currency": "USDT",
         "amount": "100", "fee": "1", "at": FEB - 1},
        {"op": "deposit", "uid": uid, "id": "d3", "currency": "USDT",
         "amount": "7", "at": FEB},
    ]  # fmt: skip


@pytest.fixture
def user(run: Cli) -> str:
    run.ok("users", "create", "--uid", "alice")
    run.ok("users", "create", "--uid", "bob")
    run.post(*history("alice"))
    run.post({"op": "deposit", "uid": "bob", "id": "b1", "currency": "BTC",
              "amount": "2", "at": JAN + 10})  # fmt: skip
    return "alice"


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    return {(r["uid"], r["type"], r["currency"]): r["balance"] for r in rows}


def test_balance_at_a_time_is_each_accounts_last_post_balance_then(run, user):
    at_end = run.json("balance", "--at", "2026-01-31T23:59:59.999Z", "--json")
    assert at_end["at"] == FEB - 1
    assert by_key(at_end["accounts"]) == {
        ("alice", "main", "USDT"): "560.5",  # 1000 + 250.5 + 10 - 600 - 100
        ("alice", "trade", "USDT"): "483.716",  # 600 - 200.2 + 83.916
        ("alice", "trade", "BTC"): "0.006",
        ("bob", "main", "BTC"): "2",
    }
    before = run.json("balance", "--uid", user, "--at", str(JAN - 1), "--json")
    assert by_key(before["accounts"]) == {
        ("alice", "main", "USDT"): "1250.5",
        ("alice", "trade", "USDT"): "0",
        ("alice", "trade", "BTC"): "0",
    }
    # A date alone is the end of that day, UTC.
    day = run.json("balance", "--uid", user, "--at", "2025-12-31", "--json")
    assert day["at"] == JAN - 1 and day["accounts"] == before["accounts"]
    now = run.json("balance", "--json")
    assert by_key(now["accounts"])[("alice", "main", "USDT")] == "567.5"
    assert {r["uid"] for r in now["accounts"]} == {"alice", "bob"}
    table = run.ok("balance", "--at", "2026-01-31T23:59:59.999Z")
    assert "560.5" in table and "bob" in table


def test_balance_of_an_unknown_user_is_one_line(run, user):
    result = run("balance", "--uid", "nobody", "--at", "2026-01-01")
    assert result.exit_code == 1
    assert "nobody" in result.stderr and "Traceback" not in result.output


def ledger_movements(run: Cli, uid: str) -> dict[tuple[str, str, str], Decimal]:
    """The month's movements summed from `kuledger ledger` independently."""
    items = run.json(
        "ledger", "--uid", uid, "--since", str(JAN), "--until", str(FEB - 1), "--json"
    )
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for item in items:
        key = (item["accountType"], item["currency"], item["bizType"])
        sign = 1 if item["direction"] == "in" else -1
        sums[key] += sign * Decimal(item["amount"])
    return sums


def test_a_month_statement_reconciles_opening_movements_and_closing(run, user):
    report = run.json("statement", "--uid", user, "--month", "2026-01", "--json")
    month = (report["month"], report["start"], report["end"])
    assert month == ("2026-01", JAN, FEB - 1)
    assert report["reconciled"] is True
    accounts = {(a["type"], a["currency"]): a for a in report["accounts"]}
    main = accounts[("main", "USDT")]
    assert (main["opening"], main["closing"]) == ("1250.5", "560.5")
    assert main["movements"] == [
        {"bizType": "DEPOSIT", "direction": "in", "amount": "10", "fee": "0",
         "entries": 1},
        {"bizType": "TRANSFER", "direction": "out", "amount": "600", "fee": "0",
         "entries": 1},
        {"bizType": "WITHDRAW", "direction": "out", "amount": "100", "fee": "1",
         "entries": 1},
    ]  # fmt: skip
    usdt = accounts[("trade", "USDT")]
    assert (usdt["opening"], usdt["totalIn"], usdt["totalOut"]) == (
        "0",
        "683.916",
        "200.2",
    )
    assert usdt["closing"] == usdt["lastPostBalance"] == "483.716"
    balances = run.json("balance", "--uid", user, "--at", str(FEB - 1), "--json")
    closing = {(r["type"], r["currency"]): r["balance"] for r in balances["accounts"]}
    assert {k: a["closing"] for k, a in accounts.items()} == closing
    sums = ledger_movements(run, user)
    for (kind, currency), account in accounts.items():
        net = Decimal(account["closing"]) - Decimal(account["opening"])
        from_ledger = sum(
            (v for (t, c, _), v in sums.items() if (t, c) == (kind.upper(), currency)),
            Decimal(0),
        )
        assert net == from_ledger, (kind, currency)


def test_the_usdt_trade_account_is_the_one_with_the_sell(run, user):
    # (the expectation above, spelled out: 600 in, 200.2 out, 83.916 in)
    report = run.json("statement", "--uid", user, "--month", "2026-01", "--json")
    [usdt] = [a for a in report["accounts"] if a["id"] and a["type"] == "trade"
              and a["currency"] == "USDT"]  # fmt: skip
    trades = [m for m in usdt["movements"] if m["bizType"] == "TRADE_EXCHANGE"]
    assert [(m["direction"], m["amount"], m["fee"]) for m in trades] == [
        ("in", "83.916", "0.084"),
        ("out", "200.2", "0.2"),
    ]


def test_month_boundaries_are_utc_and_inclusive(run, user):
    december = run.json("statement", "--uid", user, "--month", "2025-12", "--json")
    [main] = december["accounts"]
    assert (main["opening"], main["closing"], main["entries"]) == ("0", "1250.5", 2)
    february = run.json("statement", "--uid", user, "--month", "2026-02", "--json")
    main_feb = next(a for a in february["accounts"] if a["type"] == "main")
    assert (main_feb["opening"], main_feb["closing"]) == ("560.5", "567.5")
    # Accounts without balance or entries in a month are left out.
    assert {a["currency"] for a in february["accounts"]} == {"USDT", "BTC"}
    empty = run.json("statement", "--uid", user, "--month", "2025-11", "--json")
    assert empty["accounts"] == [] and empty["reconciled"] is True


def test_the_statement_as_csv_and_as_a_table(run, user):
    text = run.ok("statement", "--uid", user, "--month", "2026-01", "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    main = [r for r in rows if r["accountType"] == "main"]
    assert [(r["line"], r["bizType"], r["amount"]) for r in main] == [
        ("opening", "", "1250.5"),
        ("movement", "DEPOSIT", "10"),
        ("movement", "TRANSFER", "600"),
        ("movement", "WITHDRAW", "100"),
        ("closing", "", "560.5"),
    ]
    table = run.ok("statement", "--uid", user, "--month", "2026-01")
    assert "reconciled" in table and "NOT RECONCILED" not in table
    assert "2026-01-31T23:59:59.999" in table


def test_a_statement_that_does_not_reconcile_says_so_and_exits_3(run, user):
    engine = sa.create_engine(run.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # change an entry's amount behind kuledger's back
        conn.execute(
            sa.text(
                "UPDATE entries SET amount = '11' WHERE uid = 'alice' "
                "AND created_at = :at AND biz_code = 'DEPOSIT'"
            ),
            {"at": JAN},
        )
    engine.dispose()
    result = run("statement", "--uid", user, "--month", "2026-01", "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["reconciled"] is False
    [main] = [a for a in report["accounts"] if not a["reconciled"]]
    assert main["type"] == "main"
    assert "NOT RECONCILED: main USDT" in result.stderr
    assert "but the closing balance is 560.5" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "month must be YYYY-MM"),
        (["--month", "2026-1"], "month must be YYYY-MM"),
        (["--uid", "nobody"], "nobody"),
    ],
)
def test_bad_statement_options_are_one_line(run, user, args, message):
    options = {"--uid": user, "--month": "2026-01"}
    options.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = run("statement", *[x for kv in options.items() for x in kv])
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
