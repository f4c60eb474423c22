"""Applying operations: users checked, all-or-nothing batches, replays,
entry numbering, backdating and who hears of it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kuledger.domain.accounts import AccountKey, AccountType
from kuledger.domain.entries import Direction
from kuledger.domain.errors import (
    BackdatedOperation,
    IdempotencyConflict,
    InsufficientBalance,
    UnknownCurrency,
    UnknownUser,
)
from kuledger.services import ledger
from kuledger.services import users as user_service
from kuledger.services.ledger import BatchError, OperationResult
from tests.fakes import FakeDatabase, RecordingSink


def deposit(op_id: str, amount: str, uid: str = "alice", **extra: object) -> dict:
    return {"op": "deposit", "uid": uid, "id": op_id, "currency": "USDT"} | {
        "amount": amount,
        **extra,
    }


def withdrawal(op_id: str, amount: str, uid: str = "alice") -> dict:
    return {"op": "withdrawal", "uid": uid, "id": op_id, "currency": "USDT"} | {
        "amount": amount
    }


def usdt(db: FakeDatabase, uid: str = "alice", type_=AccountType.MAIN) -> Decimal:
    account = db.account(AccountKey(uid, type_, "USDT"))
    return Decimal(0) if account is None else account.balance


def test_an_operation_for_an_unknown_user_is_refused(db, clock):
    with pytest.raises(UnknownUser):
        ledger.apply(db, deposit("d1", "1", uid="nobody"), clock)
    assert db.state.entries == []


def test_entries_are_numbered_per_account_and_carry_the_running_balance(
    db, clock, alice
):
    ledger.apply(db, deposit("d1", "5"), clock)
    ledger.apply(db, withdrawal("w1", "30"), clock)
    [seed, more, out] = db.state.entries
    assert [e.seq for e in (seed, more, out)] == [1, 2, 3]
    assert [e.balance for e in (seed, more, out)] == [
        Decimal("100"),
        Decimal("105"),
        Decimal("75"),
    ]
    assert out.direction is Direction.OUT
    assert out.biz_code == "WITHDRAW"
    assert usdt(db) == Decimal("75")


def test_the_result_names_the_entries_and_the_time(db, clock, alice):
    result = ledger.apply(db, deposit("d1", "5"), clock)
    assert result == OperationResult(
        alice, "d1", "deposit", (db.state.entries[-1].id,), clock()
    )
    assert not result.replayed


def test_an_operation_may_be_dated_but_not_before_the_accounts_last_entry(
    db, clock, alice
):
    later = clock() + 1000
    assert ledger.apply(db, deposit("d1", "1", at=later), clock).created_at == later
    with pytest.raises(BackdatedOperation):
        ledger.apply(db, deposit("d2", "1", at=later - 1), clock)


def test_a_replay_returns_the_stored_result_marked_replayed(db, clock, alice):
    first = ledger.apply(db, deposit("d1", "5"), clock)
    clock.advance(5000)
    again = ledger.apply(db, deposit("d1", "5"), clock)
    assert again.replayed
    assert (again.entry_ids, again.created_at) == (first.entry_ids, first.created_at)
    assert usdt(db) == Decimal("105")


def test_a_replay_with_another_body_is_a_conflict(db, clock, alice):
    ledger.apply(db, deposit("d1", "5"), clock)
    with pytest.raises(IdempotencyConflict):
        ledger.apply(db, deposit("d1", "6"), clock)
    with pytest.raises(IdempotencyConflict):  # the same fields, another op
        ledger.apply(db, withdrawal("d1", "5"), clock)


def test_results_survive_their_json_form():
    result = OperationResult("u\u00e9", 'id "1"', "trade", (3, 4, 5), 1_700_000_000_000)
    text = result.to_json()
    assert text.isascii()
    assert OperationResult.from_json(text, replayed=True) == OperationResult(
        "u\u00e9", 'id "1"', "trade", (3, 4, 5), 1_700_000_000_000, replayed=True
    )


def test_a_batch_applies_in_order_in_one_transaction(db, clock, alice):
    commits = db.commits
    results = ledger.apply_batch(
        db, [withdrawal("w1", "100"), deposit("d1", "1"), withdrawal("w2", "1")], clock
    )
    assert [r.id for r in results] == ["w1", "d1", "w2"]
    assert db.commits == commits + 1
    assert usdt(db) == Decimal(0)


@pytest.mark.parametrize(
    ("bad", "cause"),
    [
        ({**deposit("x", "1"), "currency": "NOPE"}, UnknownCurrency),
        (deposit("x", "1", uid="nobody"), UnknownUser),
        (withdrawal("x", "1000"), InsufficientBalance),
    ],
    ids=["parse", "users", "balance"],
)
def test_a_failing_operation_rolls_back_the_batch_and_is_named(
    db, clock, alice, bad, cause
):
    entries = list(db.state.entries)
    with pytest.raises(BatchError) as caught:
        ledger.apply_batch(db, [deposit("d1", "1"), deposit("d2", "1"), bad], clock)
    assert caught.value.index == 2
    assert isinstance(caught.value.cause, cause)
    assert str(caught.value).startswith("operation 3: ")
    assert db.state.entries == entries
    assert ("alice", "d1") not in db.state.operations


def test_a_batch_may_spend_what_an_earlier_operation_brought(db, clock, alice):
    ledger.apply_batch(db, [deposit("d1", "50"), withdrawal("w1", "150")], clock)
    assert usdt(db) == Decimal(0)


def test_an_id_repeated_inside_a_batch_is_applied_once(db, clock, alice):
    first, second = ledger.apply_batch(
        db, [deposit("d1", "5"), deposit("d1", "5")], clock
    )
    assert second.replayed and second.entry_ids == first.entry_ids
    assert usdt(db) == Decimal("105")
    with pytest.raises(BatchError) as caught:
        ledger.apply_batch(db, [deposit("d2", "5"), deposit("d2", "6")], clock)
    assert caught.value.index == 1
    assert isinstance(caught.value.cause, IdempotencyConflict)


def test_a_batch_of_replays_takes_no_entry_ids(db, clock, alice):
    ledger.apply(db, deposit("d1", "5"), clock)
    taken = next(db.entry_ids)
    ledger.apply_batch(db, [deposit("d1", "5")], clock)
    assert next(db.entry_ids) == taken + 1


def test_a_trade_without_an_account_trades_where_the_user_trades(db, clock):
    user_service.create_user(db, clock, uid="classic")
    user_service.create_user(db, clock, uid="hf", hf=True)
    fill = {"op": "trade", "symbol": "BTC-USDT", "side": "sell", "price": "50000"}
    for uid in ("classic", "hf"):
        funding = {"op": "deposit", "uid": uid, "currency": "BTC", "amount": "1"}
        account = "trade_hf" if uid == "hf" else "trade"
        ledger.apply(db, {**funding, "id": "d", "account": account}, clock)
        trade = {**fill, "uid": uid, "size": "0.1", "order_id": "o", "trade_id": "t"}
        ledger.apply(db, {**trade, "id": "t1"}, clock)
    assert usdt(db, "classic", AccountType.TRADE) == Decimal("5000")
    assert usdt(db, "hf", AccountType.TRADE_HF) == Decimal("5000")
    assert db.account(AccountKey("hf", AccountType.TRADE, "USDT")) is None


def test_an_explicit_account_is_kept_for_hf_users(db, clock):
    user_service.create_user(db, clock, uid="hf", hf=True)
    funding = {"op": "deposit", "uid": "hf", "currency": "BTC", "amount": "1"}
    ledger.apply(db, {**funding, "id": "d", "account": "trade"}, clock)
    trade = {"op": "trade", "uid": "hf", "id": "t1", "account": "trade"}
    trade |= {"symbol": "BTC-USDT", "side": "sell", "price": "10", "size": "1"}
    ledger.apply_batch(db, [{**trade, "order_id": "o", "trade_id": "t"}], clock)
    assert usdt(db, "hf", AccountType.TRADE) == Decimal("10")


def test_listeners_hear_a_batch_once_and_nothing_when_it_fails(db, clock, alice):
    sink = RecordingSink()
    ledger.apply_batch(db, [deposit("d1", "1"), deposit("d2", "2")], clock, sink)
    [changes] = sink.batches
    assert [c.available_change for c in changes] == [Decimal("1"), Decimal("2")]
    assert [c.total for c in changes] == [Decimal("101"), Decimal("103")]
    with pytest.raises(BatchError):
        failing = [deposit("d3", "1"), withdrawal("w", "999")]
        ledger.apply_batch(db, failing, clock, sink)
    assert len(sink.batches) == 1
