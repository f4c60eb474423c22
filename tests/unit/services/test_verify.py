"""verify(): the audit's rules over accounts and their trail of entries, on
ledgers written through the services into the in-memory FakeDatabase."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

import pytest

from kuledger.domain.accounts import Account
from kuledger.domain.entries import Entry
from kuledger.services import ledger
from kuledger.services.ports import StoredOperation, TrailRow
from kuledger.services.verify import MAX_REPORTED, Checkpoint, verify
from tests.fakes import FakeDatabase


def trail(
    entries: list[Entry],
    operations: Mapping[tuple[str, str], StoredOperation] | None = None,
) -> list[TrailRow]:
    """The rows storage reads for verify, by account then seq, each with the
    operation record it names (from `operations`)."""
    records = operations or {}
    return [
        TrailRow(
            e.account_id,
            e.seq,
            e.amount,
            e.direction.value,
            e.balance,
            e.id,
            e.uid,
            e.account_type.value,
            e.currency,
            e.fee,
            e.biz_code,
            e.created_at,
            e.context,
            e.hash,
            e.book.value,
            e.op_uid,
            e.op_id,
            records.get((e.op_uid or "", e.op_id or "")),
        )
        for e in sorted(entries, key=lambda e: (e.account_id, e.seq))
    ]


@pytest.fixture
def history(db: FakeDatabase, clock, alice) -> FakeDatabase:
    """alice: 100 in, 30 to trade, 5 withdrawn, 7 held."""
    ops = [
        {"op": "transfer", "id": "t", "from": "main", "to": "trade", "amount": "30"},
        {"op": "withdrawal", "id": "w", "amount": "5", "fee": "1"},
        {"op": "hold", "id": "h", "account": "trade", "amount": "7"},
    ]
    for op in ops:
        clock.advance(1000)
        ledger.apply(db, {"uid": alice, "currency": "USDT", **op}, clock)
    return db


def accounts(db: FakeDatabase) -> list[Account]:
    return list(db.state.accounts.values())


def rows_of(db: FakeDatabase, entries: list[Entry] | None = None) -> list[TrailRow]:
    return trail(db.state.entries if entries is None else entries, db.state.operations)


def check(db: FakeDatabase, rows=None, **kwargs):
    rows = rows_of(db) if rows is None else rows
    return verify(iter(accounts(db)), rows, **kwargs)


def test_a_ledger_written_by_the_services_verifies(history):
    report = check(history)
    assert report.ok, report.problems
    assert (report.accounts, report.entries, report.chained) == (2, 4, 4)
    main = next(a for a in accounts(history) if a.key.type.value == "main")
    assert report.heads[main.id] == Checkpoint(
        main.id, main.seq, main.chain_head, Decimal("65"), main.key.uid, "main", "USDT"
    )


def test_a_changed_amount_breaks_the_running_sum_and_the_chain(history):
    rows = rows_of(history)
    rows[1] = rows[1]._replace(amount=Decimal("31"))
    report = check(history, rows)
    assert report.broken_chains == 1
    assert any("says balance 70, the running sum is 69" in p for p in report.problems)
    assert any("chain broken at entry" in p for p in report.problems)


def test_a_missing_entry_is_a_gap_in_the_numbering(history):
    rows = rows_of(history)
    del rows[0]
    report = check(history, rows)
    assert any("has seq 2, expected 1" in p for p in report.problems)
    assert any("stored balance 65, entries sum to" in p for p in report.problems)


def test_an_entry_of_an_unknown_account_or_direction_is_reported(history):
    rows = rows_of(history)
    rows.append(rows[-1]._replace(account_id="ghost", seq=1, id=99))
    first = rows[0]
    rows[0] = first._replace(direction="sideways")
    problems = check(history, rows).problems
    assert "entry 99: account ghost does not exist" in problems
    assert f"entry {first.id}: direction 'sideways'" in problems


def test_stored_balances_must_add_up_and_never_be_negative(history):
    [one, other] = accounts(history)
    bad = one._replace(available=one.available + 1)
    negative = other._replace(available=Decimal(-1), holds=other.holds)
    report = verify(iter([bad, negative]), rows_of(history))
    assert any("!= available" in p for p in report.problems)
    assert any("negative balance, available or holds" in p for p in report.problems)


def test_a_forged_chain_head_is_reported_once(history):
    [one, other] = accounts(history)
    forged = one._replace(chain_head="f" * 64)
    report = verify(iter([forged, other]), rows_of(history))
    assert report.broken_chains == 1
    [problem] = report.problems
    assert "stored chain head ffffffffffffffff" in problem


def test_from_a_checkpoint_only_the_newer_entries_are_needed(history, clock, alice):
    heads = check(history).heads
    clock.advance(1000)
    deposit = {"op": "deposit", "uid": alice, "id": "d2", "currency": "USDT"}
    ledger.apply(history, {**deposit, "amount": "1"}, clock)
    newest = history.state.entries[-1]
    report = check(history, rows_of(history, [newest]), checkpoints=heads)
    assert report.ok, report.problems
    assert (report.resumed, report.entries) == (2, 1)


def test_a_checkpoint_behind_the_retention_base_is_not_used(history):
    heads = check(history).heads
    main = next(a for a in accounts(history) if a.key.type.value == "main")
    # retention has deleted main's first two entries since the checkpoint
    kept = [e for e in history.state.entries if e.account_id != main.id or e.seq > 2]
    gone = next(
        e for e in history.state.entries if e.account_id == main.id and e.seq == 2
    )
    based = main._replace(base_seq=2, base_balance=gone.balance, base_hash=gone.hash)
    old = {main.id: dataclasses.replace(heads[main.id], seq=1)}
    others = [a for a in accounts(history) if a.id != main.id]
    report = verify(iter([based, *others]), rows_of(history, kept), checkpoints=old)
    assert report.ok, report.problems
    assert report.resumed == 0


def test_only_the_first_problems_are_kept_but_all_are_counted(db, clock, alice):
    [account] = accounts(db)
    rows = [
        TrailRow(
            account.id,
            n,
            Decimal(1),
            "in",
            Decimal(0),
            n,
            alice,
            "main",
            "USDT",
            Decimal(0),
            "DEPOSIT",
            0,
            "",
            "",
        )
        for n in range(2, 300)
    ]
    report = verify(iter([account]), rows)
    assert len(report.problems) == MAX_REPORTED
    assert report.problem_count > MAX_REPORTED
    assert not report.ok


def test_an_unknown_account_type_is_the_chains_finding_not_the_books(history):
    rows = rows_of(history)
    rows[0] = rows[0]._replace(account_type="weird")
    report = check(history, rows)
    assert set(report.kinds) == {"account-key", "chain"}


def test_a_finding_names_its_place_as_fields(history):
    rows = rows_of(history)
    rows[0] = rows[0]._replace(book="futures")
    [finding, *_] = check(history, rows).findings
    assert finding.as_dict() == {
        "kind": "book",
        "account": rows[0].account_id,
        "entry": rows[0].id,
        "seq": 1,
        "operation": None,
        "message": finding.message,
    }
