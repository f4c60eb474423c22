"""verify over trails built in memory: named rows, each field where it belongs."""

from __future__ import annotations

from decimal import Decimal

from kuledger.domain.accounts import Account, AccountKey, AccountType
from kuledger.domain.chain import GENESIS, entry_hash
from kuledger.services.ports import TrailRow
from kuledger.services.verify import verify


def _account_and_trail(*amounts: int) -> tuple[Account, list[TrailRow]]:
    """An account credited `amounts` in turn, and its entries, hash-chained."""
    head, balance, trail = GENESIS, Decimal(0), []
    for seq, amount in enumerate(amounts, 1):
        balance += amount
        row = TrailRow(
            account_id="a1",
            seq=seq,
            amount=Decimal(amount),
            direction="in",
            balance=balance,
            id=100 + seq,
            uid="u1",
            account_type="main",
            currency="USDT",
            fee=Decimal(0),
            biz_code="DEPOSIT",
            created_at=1000 * seq,
            context=f'{{"n":{seq}}}',
            hash="",
        )
        head = entry_hash(
            head, row.id, row.uid, row.account_id, row.account_type, row.currency,
            row.amount, row.fee, row.balance, row.direction, row.biz_code,
            row.created_at, row.context, row.seq,
        )  # fmt: skip
        trail.append(row._replace(hash=head))
    account = Account(
        "a1",
        AccountKey("u1", AccountType.MAIN, "USDT"),
        balance=balance,
        available=balance,
        seq=len(amounts),
        last_entry_at=1000 * len(amounts),
        chain_head=head,
    )
    return account, trail


def test_an_untouched_trail_verifies():
    account, trail = _account_and_trail(10, 20, 30)
    report = verify(iter([account]), trail)
    assert report.ok, report.problems
    assert (report.accounts, report.entries, report.chained) == (1, 3, 3)
    assert report.heads["a1"].hash == trail[-1].hash
    assert report.heads["a1"].balance == Decimal(60)


def test_a_changed_context_breaks_the_chain_at_that_entry():
    account, trail = _account_and_trail(10, 20, 30)
    trail[1] = trail[1]._replace(context='{"n":99}')
    report = verify(iter([account]), trail)
    assert report.broken_chains == 1
    [problem] = report.problems  # the sums still hold
    assert "chain broken at entry 102 (seq 2)" in problem


def test_a_changed_amount_breaks_the_sum_and_the_chain():
    account, trail = _account_and_trail(10, 20, 30)
    trail[0] = trail[0]._replace(amount=Decimal(11))
    report = verify(iter([account]), trail)
    assert not report.ok
    assert any("chain broken at entry 101 (seq 1)" in p for p in report.problems)
    assert any("says balance 10, the running sum is 11" in p for p in report.problems)


def test_a_removed_entry_is_a_gap_in_the_sequence():
    account, trail = _account_and_trail(10, 20, 30)
    del trail[1]
    report = verify(iter([account]), trail)
    assert any("entry 103 has seq 3, expected 2" in p for p in report.problems)
    assert any("chain broken at entry 103" in p for p in report.problems)


def test_a_stored_head_that_is_not_the_last_hash_is_reported():
    account, trail = _account_and_trail(10, 20)
    report = verify(iter([account._replace(chain_head="f" * 64)]), trail)
    [problem] = report.problems
    assert "stored chain head ffffffffffffffff" in problem
    assert report.broken_chains == 1
