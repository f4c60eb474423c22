"""The funding rules without I/O: which status moves are allowed, and the
settlement plan that spends what its release frees."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kuledger.domain.accounts import Account, AccountKey, AccountType
from kuledger.domain.errors import InsufficientBalance, InvalidInput
from kuledger.domain.events import BalanceChange
from kuledger.domain.funding import (
    WithdrawalSettlement,
    cancel_type,
    check_deposit_move,
    check_withdrawal_move,
)
from kuledger.domain.money import Currency
from kuledger.domain.posting import OperationRef, apply_plan

USDT = Currency("USDT", 8, "Tether")
KEY = AccountKey("u1", AccountType.MAIN, "USDT")


def _account(balance: str, holds: str) -> Account:
    b, h = Decimal(balance), Decimal(holds)
    return Account("a" * 24, KEY, b, b - h, h, 1, 0)


def _settle(amount: str, fee: str) -> WithdrawalSettlement:
    return WithdrawalSettlement(
        "u1", "w1", None, currency=USDT, amount=Decimal(amount), fee=Decimal(fee)
    )


def _apply(settlement: WithdrawalSettlement, account: Account):
    accounts = {KEY: account}
    ref = OperationRef("u1", "w1", "0" * 64)
    entries = apply_plan(settlement.plan(), accounts, 5, iter([7, 8]), None, "w1", ref)
    return accounts[KEY], entries


def test_a_settlement_releases_its_hold_then_writes_amount_and_fee():
    after, entries = _apply(_settle("40", "1"), _account("100", "41"))
    assert (after.balance, after.available, after.holds) == (59, 59, 0)
    assert [(e.amount, e.fee, e.biz_code) for e in entries] == [
        (Decimal("40"), Decimal("0"), "WITHDRAW"),
        (Decimal("1"), Decimal("1"), "WITHDRAW"),
    ]
    assert [e.balance for e in entries] == [Decimal("60"), Decimal("59")]


def test_a_settlements_balance_changes_come_in_the_order_they_were_made():
    """The release, then the entries in entry order: each change's state is
    the one after the one before it, and the last is the account's final
    state (a subscriber keeps the last it saw)."""
    accounts = {KEY: _account("100", "41")}
    ref = OperationRef("u1", "w1", "0" * 64)
    changes: list[BalanceChange] = []
    plan = _settle("40", "1").plan()
    entries = apply_plan(plan, accounts, 5, iter([7, 8]), changes, "w1", ref)
    assert [
        (c.relation_event, c.relation_event_id, c.available_change, c.hold_change)
        for c in changes
    ] == [
        ("main.hold", "w1", Decimal("41"), Decimal("-41")),
        ("main.withdraw_done", "7", Decimal("-40"), 0),
        ("main.withdraw_done", "8", Decimal("-1"), 0),
    ]
    assert [c.relation_event_id for c in changes[1:]] == [str(e.id) for e in entries]
    states = [(c.total, c.available, c.hold) for c in changes]
    assert states == [(100, 100, 0), (60, 60, 0), (59, 59, 0)]
    after = accounts[KEY]
    assert states[-1] == (after.balance, after.available, after.holds)


def test_a_free_withdrawal_writes_one_entry():
    after, entries = _apply(_settle("5", "0"), _account("5", "5"))
    assert after.balance == 0 and len(entries) == 1


def test_a_settlement_without_its_hold_is_refused_and_changes_nothing():
    account = _account("100", "0")
    accounts = {KEY: account}
    ref = OperationRef("u1", "w1", "0" * 64)
    with pytest.raises(InsufficientBalance):
        apply_plan(_settle("40", "1").plan(), accounts, 5, iter([1, 2]), None, "w", ref)
    assert accounts[KEY] == account


@pytest.mark.parametrize(
    ("status", "target", "allowed"),
    [
        ("PROCESSING", "SUCCESS", True),
        ("PROCESSING", "FAILURE", True),
        ("SUCCESS", "FAILURE", False),
        ("FAILURE", "SUCCESS", False),
        ("PROCESSING", "PROCESSING", False),
    ],
)
def test_deposit_moves(status, target, allowed):
    if allowed:
        check_deposit_move("d", status, target)
    else:
        with pytest.raises(InvalidInput):
            check_deposit_move("d", status, target)


@pytest.mark.parametrize(
    ("status", "target", "allowed"),
    [
        ("PROCESSING", "REVIEW", True),
        ("REVIEW", "WALLET_PROCESSING", True),
        ("WALLET_PROCESSING", "SUCCESS", True),
        ("WALLET_PROCESSING", "PROCESSING", False),
        ("SUCCESS", "FAILURE", False),
        ("FAILURE", "SUCCESS", False),
        ("PROCESSING", "CANCELLED", False),
    ],
)
def test_withdrawal_moves(status, target, allowed):
    if allowed:
        check_withdrawal_move("w", status, target)
    else:
        with pytest.raises(InvalidInput):
            check_withdrawal_move("w", status, target)


def test_only_a_withdrawal_the_wallet_has_not_taken_is_cancellable():
    assert [cancel_type(s) for s in ("PROCESSING", "REVIEW", "WALLET_PROCESSING")] == [
        "CANCELABLE",
        "CANCELABLE",
        "NON_CANCELABLE",
    ]
