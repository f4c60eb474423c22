"""The import's first pass, on text: reading JSONL and CSV, and the running
balance check that rejects an inconsistent file by line number."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from kuledger.cli.export import parse_time
from kuledger.domain.accounts import AccountType
from kuledger.domain.currencies import DEFAULT_CURRENCIES
from kuledger.services.importing import (
    CSV_COLUMNS,
    ImportRejected,
    check,
    read_items,
)

CURRENCIES = {c.code: c for c in DEFAULT_CURRENCIES}


def item(entry_id: int, amount: str, balance: str, **fields: object) -> str:
    base: dict[str, object] = {
        "id": str(entry_id),
        "currency": "USDT",
        "amount": amount,
        "fee": "0",
        "balance": balance,
        "accountType": "MAIN",
        "bizType": "DEPOSIT",
        "direction": "in",
        "createdAt": 1_700_000_000_000 + entry_id,
        "context": "",
    }
    base.update(fields)
    return json.dumps(base)


def plan_of(*lines: str, opening_balances: bool = True):
    return check(
        read_items(lines, "jsonl"), CURRENCIES, opening_balances=opening_balances
    )


def rejected(*lines: str, **options: bool) -> ImportRejected:
    with pytest.raises(ImportRejected) as raised:
        plan_of(*lines, **options)
    return raised.value


def test_a_consistent_file_gives_each_accounts_final_balance():
    plan = plan_of(
        item(1, "10", "10"),
        item(2, "4", "6", direction="out", bizType="Withdrawal", fee="1"),
        item(3, "2.5", "2.5", accountType="TRADE"),
        "",
    )
    assert plan.entries == 3
    assert plan.trails[(AccountType.MAIN, "USDT")].balance == Decimal(6)
    assert plan.trails[(AccountType.TRADE, "USDT")].balance == Decimal("2.5")
    assert plan.openings == {}
    assert plan.ledgers == {"spot"}


def test_a_balance_that_does_not_follow_is_rejected_with_its_line():
    error = rejected(item(1, "10", "10"), item(2, "1", "11"), item(3, "1", "13"))
    assert error.line == 3
    assert "running balance 12" in error.reason


def test_an_export_that_starts_mid_history_gets_an_opening_balance():
    plan = plan_of(item(1, "5", "105"), item(2, "5", "100", direction="out"))
    assert plan.openings == {(AccountType.MAIN, "USDT"): Decimal(100)}
    error = rejected(item(1, "5", "105"), opening_balances=False)
    assert error.line == 1 and "opening balance of 100" in error.reason


def test_a_negative_opening_balance_is_rejected():
    assert "opening balance of -5" in rejected(item(1, "10", "5")).reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{nope", "malformed JSON"),
        ("[1, 2]", "a line must be a JSON object"),
        (item(1, "1", "1", currency="NOPE"), "unknown currency 'NOPE'"),
        (
            item(1, "1", "1", accountType="SAVINGS"),
            "accountType not in the given range",
        ),
        (item(1, "1", "1", bizType="Nonsense"), "bizType not in the catalogue"),
        (item(1, "1", "1", direction="sideways"), "direction must be in or out"),
        (item(1, "0", "0"), "amount must be greater than zero"),
        (item(1, "1.000000001", "1.000000001"), "more than 8 decimals"),
        (item(1, "1", "1", fee="2"), "fee is part of amount"),
        (item(1, "1", "1", createdAt="yesterday"), "createdAt must be milliseconds"),
        (item(1, "1", "1", fee=1), "fee must be a string"),
        (item(1, "1", "1", ledger="futures"), "ledger must be one of"),
        (
            json.dumps({"time": 1, "type": "Deposit", "amount": 1, "accountEquity": 1}),
            "futures ledger items cannot be imported",
        ),
    ],
)
def test_a_malformed_line_is_rejected_with_the_reason(line, reason):
    error = rejected(item(1, "1", "1", currency="BTC"), line)
    assert error.line == 2
    assert reason in error.reason


def test_entries_of_an_account_must_be_oldest_first():
    error = rejected(item(2, "1", "1"), item(1, "1", "2"))
    assert error.line == 2 and "oldest first" in error.reason


def test_display_names_and_numeric_ids_are_accepted():
    plan = plan_of(
        item(1, "1", "1", bizType="Referral Bonus"),
        item(2, "1", "1", id=2, createdAt="1700000000005", accountType="MARGIN_V2"),
    )
    assert plan.ledgers == {"spot", "margin-hf"}


def test_csv_rows_are_read_by_the_documented_columns():
    header = ",".join(CSV_COLUMNS)
    rows = [
        header,
        'spot,1,1700000000000,USDT,10,0,10,MAIN,DEPOSIT,in,"{""txId"":""0x1""}"',
        "spot,2,1700000000001,USDT,3,0,7,MAIN,WITHDRAW,out,",
    ]
    items = list(read_items([f"{r}\n" for r in rows], "csv"))
    assert [i.line for i in items] == [2, 3]
    assert items[0].context == '{"txId":"0x1"}'
    assert check(items, CURRENCIES).entries == 2
    with pytest.raises(ImportRejected, match="line 1: the header must be"):
        list(read_items(["id,amount\n"], "csv"))
    with pytest.raises(ImportRejected, match="line 2: expected 11 columns"):
        list(read_items([f"{header}\n", "spot,1\n"], "csv"))


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("2026-01-31", False, 1769817600000),
        ("2026-01-31", True, 1769817600000 + 86_400_000 - 1),
        ("2026-01-31T12:00:00", False, 1769860800000),
        ("2026-01-31T12:00:00Z", False, 1769860800000),
        ("2026-01-31T14:00:00+02:00", False, 1769860800000),
        ("1769860800000", False, 1769860800000),
    ],
)
def test_dates_are_utc_unless_they_say_otherwise(text, end_of_day, expected):
    assert parse_time(text, end_of_day=end_of_day) == expected
