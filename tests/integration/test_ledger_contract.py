"""The storage contract: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kuledger.bootstrap import Container
from kuledger.domain.accounts import Book
from kuledger.domain.errors import (
    BackdatedOperation,
    IdempotencyConflict,
    InsufficientBalance,
    UnknownUser,
)
from kuledger.services import ledger, users
from kuledger.services.ledger import BatchError
from kuledger.services.ports import LedgerFilter
from kuledger.services.verify import verify


def _deposit(op_id: str, amount: str, **extra: object) -> dict[str, object]:
    return {
        "op": "deposit",
        "uid": "u1",
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
        **extra,
    }


@pytest.fixture
def user(container: Container) -> str:
    users.create_user(container.uow, container.clock, uid="u1")
    return "u1"


def _balances(container: Container, uid: str = "u1") -> dict[tuple[str, str], Decimal]:
    return {
        (a.key.type.value, a.key.currency): a.balance
        for a in container.reader.accounts(uid)
    }


def test_deposit_then_transfer_writes_entries_with_post_balances(container, user):
    ledger.apply(container.uow, _deposit("d1", "100.5"), container.clock)
    ledger.apply(
        container.uow,
        {
            "op": "transfer",
            "uid": "u1",
            "id": "t1",
            "currency": "USDT",
            "amount": "40",
            "from": "main",
            "to": "trade",
        },
        container.clock,
    )
    assert _balances(container) == {
        ("main", "USDT"): Decimal("60.5"),
        ("trade", "USDT"): Decimal("40"),
    }
    entries = list(container.reader.entries("u1"))
    assert [(e.account_type.value, e.direction.value, e.balance) for e in entries] == [
        ("trade", "in", Decimal("40")),
        ("main", "out", Decimal("60.5")),
        ("main", "in", Decimal("100.5")),
    ]
    assert entries[0].id > entries[1].id > entries[2].id
    assert verify(container.reader.all_accounts(), container.reader.entry_trail()).ok


def test_replaying_an_id_returns_the_original_result_and_writes_nothing(
    container, user
):
    first = ledger.apply(container.uow, _deposit("d1", "5"), container.clock)
    container.clock.advance(1000)
    again = ledger.apply(container.uow, _deposit("d1", "5"), container.clock)
    assert (again.entry_ids, again.created_at, again.replayed) == (
        first.entry_ids,
        first.created_at,
        True,
    )
    assert len(list(container.reader.entries("u1"))) == 1


def test_reusing_an_id_with_another_payload_is_rejected(container, user):
    ledger.apply(container.uow, _deposit("d1", "5"), container.clock)
    with pytest.raises(IdempotencyConflict):
        ledger.apply(container.uow, _deposit("d1", "6"), container.clock)


def test_overdraft_is_rejected_and_writes_nothing(container, user):
    ledger.apply(container.uow, _deposit("d1", "5"), container.clock)
    with pytest.raises(InsufficientBalance):
        ledger.apply(
            container.uow,
            {
                "op": "withdrawal",
                "uid": "u1",
                "id": "w1",
                "currency": "USDT",
                "amount": "5.00000001",
            },
            container.clock,
        )
    assert _balances(container) == {("main", "USDT"): Decimal("5")}
    assert len(list(container.reader.entries("u1"))) == 1


def test_backdating_before_the_latest_entry_is_rejected(container, user):
    ledger.apply(container.uow, _deposit("d1", "5", at=2000), container.clock)
    with pytest.raises(BackdatedOperation):
        ledger.apply(container.uow, _deposit("d2", "5", at=1999), container.clock)
    ledger.apply(container.uow, _deposit("d3", "5", at=2000), container.clock)


def test_a_batch_with_one_bad_operation_is_rolled_back_whole(container, user):
    batch = [
        _deposit("d1", "5"),
        _deposit("d2", "5"),
        {
            "op": "deposit",
            "uid": "ghost",
            "id": "d3",
            "currency": "USDT",
            "amount": "1",
        },
    ]
    with pytest.raises(BatchError) as info:
        ledger.apply_batch(container.uow, batch, container.clock)
    assert info.value.index == 2
    assert isinstance(info.value.cause, UnknownUser)
    assert list(container.reader.entries("u1")) == []
    assert container.reader.accounts("u1") == []


def test_hold_and_release_move_available_without_entries(container, user):
    ledger.apply(container.uow, _deposit("d1", "10", account="trade"), container.clock)
    ledger.apply(
        container.uow,
        {
            "op": "hold",
            "uid": "u1",
            "id": "h1",
            "account": "trade",
            "currency": "USDT",
            "amount": "4",
        },
        container.clock,
    )
    [account] = container.reader.accounts("u1")
    assert (account.balance, account.available, account.holds) == (
        Decimal("10"),
        Decimal("6"),
        Decimal("4"),
    )
    with pytest.raises(InsufficientBalance):
        ledger.apply(
            container.uow,
            {
                "op": "withdrawal",
                "uid": "u1",
                "id": "w1",
                "account": "trade",
                "currency": "USDT",
                "amount": "7",
            },
            container.clock,
        )
    ledger.apply(
        container.uow,
        {
            "op": "release",
            "uid": "u1",
            "id": "r1",
            "account": "trade",
            "currency": "USDT",
            "amount": "4",
        },
        container.clock,
    )
    [account] = container.reader.accounts("u1")
    assert account.available == Decimal("10")
    assert len(list(container.reader.entries("u1"))) == 1


def test_trade_with_kcs_fee_writes_three_legs(container, user):
    ledger.apply_batch(
        container.uow,
        [
            _deposit("d1", "1000", account="trade"),
            {
                "op": "deposit",
                "uid": "u1",
                "id": "d2",
                "currency": "KCS",
                "amount": "10",
                "account": "trade",
            },
        ],
        container.clock,
    )
    result = ledger.apply(
        container.uow,
        {
            "op": "trade",
            "uid": "u1",
            "id": "x1",
            "symbol": "ETH-USDT",
            "side": "buy",
            "price": "3000.5",
            "size": "0.1",
            "fee": "0.03",
            "fee_currency": "KCS",
            "order_id": "o1",
            "trade_id": "t1",
        },
        container.clock,
    )
    assert len(result.entry_ids) == 3
    assert _balances(container) == {
        ("trade", "ETH"): Decimal("0.1"),
        ("trade", "KCS"): Decimal("9.97"),
        ("trade", "USDT"): Decimal("699.95"),
    }


def test_sub_transfer_moves_funds_between_parent_and_sub(container, user):
    users.create_user(container.uow, container.clock, uid="sub1", parent_uid="u1")
    users.create_user(container.uow, container.clock, uid="other")
    ledger.apply(container.uow, _deposit("d1", "10"), container.clock)
    ledger.apply(
        container.uow,
        {
            "op": "sub_transfer",
            "uid": "u1",
            "id": "s1",
            "currency": "USDT",
            "amount": "3",
            "sub_uid": "sub1",
            "direction": "to_sub",
        },
        container.clock,
    )
    assert _balances(container, "sub1") == {("main", "USDT"): Decimal("3")}
    [entry] = container.reader.entries("sub1")
    assert (entry.biz_code, entry.direction.value) == ("SUB_TRANSFER", "in")
    with pytest.raises(Exception, match="not a sub-account"):
        ledger.apply(
            container.uow,
            {
                "op": "sub_transfer",
                "uid": "u1",
                "id": "s2",
                "currency": "USDT",
                "amount": "1",
                "sub_uid": "other",
                "direction": "to_sub",
            },
            container.clock,
        )


def test_pages_of_the_last_24_hours_do_not_evict_remembered_windows(container, user):
    # A request without startAt/endAt reads the 24 h up to now: a window that
    # never repeats, so the page cache must not spend a slot on it.
    from kuledger.services.paging import PageCursors, Seek
    from kuledger.services.queries import SpotLedgerQuery, spot_ledger

    now = container.clock()
    for n in range(3):
        ledger.apply(
            container.uow, _deposit(f"d{n}", "1", at=now - 10 + n), container.clock
        )
    cursors = PageCursors(capacity=1)
    window = SpotLedgerQuery("u1", start_at=now - 1000, end_at=now, page_size=2)
    page = spot_ledger(container.reader, window, now, 30, cursors)
    assert len(page.rows) == 2
    last_24h = SpotLedgerQuery("u1", page_size=2)
    assert len(spot_ledger(container.reader, last_24h, now, 30, cursors).rows) == 2
    remembered = LedgerFilter(uid="u1", book=Book.SPOT, start_at=now - 1000, end_at=now)
    assert cursors.seek(remembered, 2, 2) == Seek(
        (page.rows[-1][8], page.rows[-1][0]), 0
    )
