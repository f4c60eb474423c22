"""Importing KuCoin's own classic-ledger export, whose every `balance` is "0":
the post-balances are rebuilt from the amounts, and the output says so."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run

START = 1_765_000_000_000
TRADE = "Trade_Exchange"


def kucoin_item(n: int, amount: str, direction: str, **fields: object) -> str:
    """An item as KuCoin's GET /api/v1/accounts/ledgers returns it."""
    item: dict[str, object] = {
        "id": f"6{n:023x}",
        "currency": "USDT",
        "amount": amount,
        "fee": "0",
        "balance": "0",
        "accountType": "MAIN",
        "bizType": "Deposit",
        "direction": direction,
        "createdAt": START + n * 1000,
        "context": "",
    }
    item.update(fields)
    return json.dumps(item)


CLASSIC = [
    kucoin_item(1, "25000", "in"),
    kucoin_item(2, "5000", "out", bizType="Transfer"),
    kucoin_item(3, "5000", "in", bizType="Transfer", accountType="TRADE"),
    kucoin_item(4, "1000.5", "out", bizType=TRADE, accountType="TRADE"),
    kucoin_item(5, "0.5", "out", bizType=TRADE, accountType="TRADE", fee="0.5"),
]


def _file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "kucoin.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_classic_ledger_with_zero_balances_imports_with_rebuilt_balances(
    run: Run, tmp_path
):
    path = _file(tmp_path, CLASSIC)
    result = run("import", "--uid", "me", str(path), "--quiet")
    assert result.exit_code == 0, result.output
    assert "rebuilt from the amounts" in result.stdout
    assert "spot" in result.stdout
    report = json.loads(run("import", "--uid", "me", str(path), "--json").stdout)
    assert report["rebuiltBalances"] == ["spot"]
    assert report["replayed"] == 5 and report["openings"] == 0
    assert report["balances"] == {"main:USDT": "20000", "trade:USDT": "3999"}
    assert run("verify").exit_code == 0


def test_hf_balances_in_the_same_file_are_still_checked(run: Run, tmp_path):
    hf = kucoin_item(6, "7", "in", accountType="TRADE_HF", balance="7")
    wrong = kucoin_item(7, "1", "in", accountType="TRADE_HF", balance="9")
    result = run("import", "--uid", "me", str(_file(tmp_path, [*CLASSIC, hf])))
    assert result.exit_code == 0, result.output
    assert "trade_hf:USDT" in result.stdout
    result = run("import", "--uid", "you", str(_file(tmp_path, [*CLASSIC, hf, wrong])))
    assert result.exit_code == 1
    assert "line 7" in result.stderr and "running balance 8" in result.stderr


def test_zero_balances_that_would_go_negative_are_rejected(run: Run, tmp_path):
    lines = [kucoin_item(1, "5", "out"), kucoin_item(2, "10", "in")]
    result = run("import", "--uid", "me", str(_file(tmp_path, lines)), "--quiet")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "line 1" in result.stderr and "all 0" in result.stderr
    assert "below zero" in result.stderr


def test_a_zero_balance_among_real_ones_is_still_an_error(run: Run, tmp_path):
    lines = [kucoin_item(1, "25000", "in", balance="25000"), kucoin_item(2, "1", "in")]
    result = run("import", "--uid", "me", str(_file(tmp_path, lines)))
    assert result.exit_code == 1
    assert "line 2" in result.stderr and "running balance 25001" in result.stderr


def test_zero_balances_that_hold_as_given_are_not_rebuilt(run: Run, tmp_path):
    lines = [kucoin_item(1, "5", "out")]  # an opening balance of 5, spent
    result = run("import", "--uid", "me", str(_file(tmp_path, lines)), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rebuiltBalances"] == [] and report["openings"] == 1
