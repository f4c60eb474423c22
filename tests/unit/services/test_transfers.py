"""Transfers: the API's validation, balances, and clientOid idempotency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kuledger.domain.accounts import AccountKey, AccountType
from kuledger.domain.errors import (
    InsufficientBalance,
    InvalidInput,
    NotASubAccount,
    UnknownUser,
)
from kuledger.services import ledger, transfers
from kuledger.services import users as user_service
from kuledger.services.transfers import TransferRequest
from tests.fakes import FakeClock, FakeDatabase, RecordingSink

MAIN, TRADE = AccountType.MAIN, AccountType.TRADE


def request(**fields: object) -> TransferRequest:
    values: dict[str, object] = {
        "uid": "alice",
        "client_oid": "c1",
        "currency": "USDT",
        "amount": "10",
        "source": MAIN,
        "target": TRADE,
    }
    return TransferRequest(**{**values, **fields})  # type: ignore[arg-type]


def transfer(
    db: FakeDatabase,
    clock: FakeClock,
    r: TransferRequest,
    events: RecordingSink | None = None,
) -> str:
    """The orderId the API would answer."""
    return transfers.order_of(transfers.applied(db, clock, r, events))


def balance(db: FakeDatabase, uid: str, type_: AccountType) -> Decimal:
    account = db.account(AccountKey(uid, type_, "USDT"))
    return Decimal(0) if account is None else account.balance


def test_an_internal_transfer_moves_the_amount_between_the_users_accounts(
    db, clock, alice
):
    transfer(db, clock, request(amount="30.5"))
    assert balance(db, alice, MAIN) == Decimal("69.5")
    assert balance(db, alice, TRADE) == Decimal("30.5")


def test_the_order_id_is_seconds_then_the_first_entry_in_hex():
    assert transfers.order_id(1_700_000_123_456, 255) == "6553f17b00000000000000ff"
    assert len(transfers.order_id(1_700_000_000_000, 1)) == 24


def test_a_replay_returns_the_same_order_id_and_writes_nothing(db, clock, alice):
    first = transfer(db, clock, request())
    entries = len(db.state.entries)
    clock.advance(60_000)
    assert transfer(db, clock, request()) == first
    assert len(db.state.entries) == entries
    assert balance(db, alice, TRADE) == Decimal("10")


def test_a_reused_client_oid_with_another_body_names_the_client_oid(db, clock, alice):
    transfer(db, clock, request())
    with pytest.raises(InvalidInput) as caught:
        transfer(db, clock, request(amount="11"))
    assert caught.value.field == "clientOid"
    assert "'c1' was already used" in str(caught.value)
    assert balance(db, alice, TRADE) == Decimal("10")


def test_the_same_client_oid_of_another_user_is_another_transfer(db, clock, alice):
    user_service.create_user(db, clock, uid="bob")
    deposit = {"op": "deposit", "uid": "bob", "id": "d", "currency": "USDT"}
    ledger.apply(db, {**deposit, "amount": "5"}, clock)
    mine = transfer(db, clock, request())
    his = transfer(db, clock, request(uid="bob", amount="5"))
    assert mine != his
    assert balance(db, "bob", TRADE) == Decimal("5")


def test_more_than_is_available_is_refused_and_nothing_is_written(db, clock, alice):
    commits = db.commits
    with pytest.raises(InsufficientBalance) as caught:
        transfer(db, clock, request(amount="100.01"))
    assert (caught.value.available, caught.value.requested) == (
        Decimal("100"),
        Decimal("100.01"),
    )
    assert db.commits == commits
    assert balance(db, alice, MAIN) == Decimal("100")
    assert db.account(AccountKey(alice, TRADE, "USDT")) is None


def test_from_and_to_must_differ(db, clock, alice):
    with pytest.raises(InvalidInput) as caught:
        transfer(db, clock, request(target=MAIN))
    assert caught.value.field == "toAccountType"


@pytest.mark.parametrize(
    ("kind", "field"),
    [("PARENT_TO_SUB", "toUserId"), ("SUB_TO_PARENT", "fromUserId")],
)
def test_a_sub_account_transfer_needs_the_sub_account(db, clock, alice, kind, field):
    with pytest.raises(InvalidInput) as caught:
        transfer(db, clock, request(kind=kind, target=MAIN))
    assert caught.value.field == field
    assert f"{field} is required for {kind}" in str(caught.value)


def test_money_goes_to_a_sub_account_and_back(db, clock, alice):
    user_service.create_user(db, clock, uid="sub", parent_uid=alice)
    down = request(kind="PARENT_TO_SUB", to_uid="sub", target=TRADE, amount="40")
    transfer(db, clock, down)
    assert balance(db, "sub", TRADE) == Decimal("40")
    up = request(
        kind="SUB_TO_PARENT",
        client_oid="c2",
        from_uid="sub",
        source=TRADE,
        target=MAIN,
        amount="15",
    )
    transfer(db, clock, up)
    assert balance(db, "sub", TRADE) == Decimal("25")
    assert balance(db, alice, MAIN) == Decimal("75")


def test_only_ones_own_sub_accounts_can_be_paid(db, clock, alice):
    user_service.create_user(db, clock, uid="stranger")
    with pytest.raises(NotASubAccount):
        transfer(
            db, clock, request(kind="PARENT_TO_SUB", to_uid="stranger", target=MAIN)
        )
    with pytest.raises(UnknownUser):
        transfer(db, clock, request(kind="PARENT_TO_SUB", to_uid="nobody", target=MAIN))


def test_listeners_hear_each_transfer_once_and_replays_not_at_all(db, clock, alice):
    sink = RecordingSink()
    transfer(db, clock, request(), sink)
    transfer(db, clock, request(), sink)
    [changes] = sink.batches
    assert sorted((c.account_type, c.available_change) for c in changes) == [
        (MAIN, Decimal("-10")),
        (TRADE, Decimal("10")),
    ]


class AccountsReader:
    """The two LedgerReader calls transferable() makes, over a FakeDatabase."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def currencies(self):
        return self.db.state.currencies

    def accounts(self, uid, currency=None, type_=None):
        return [
            a
            for a in self.db.state.accounts.values()
            if a.key.uid == uid
            and currency in (None, a.key.currency)
            and type_ in (None, a.key.type)
        ]


def test_transferable_is_the_available_amount(db, clock: FakeClock, alice):
    hold = {"op": "hold", "uid": alice, "id": "h1", "account": "main"}
    ledger.apply(db, {**hold, "currency": "USDT", "amount": "25"}, clock)
    found = transfers.transferable(AccountsReader(db), alice, "USDT", MAIN)
    assert (found.balance, found.available, found.holds) == (
        Decimal("100"),
        Decimal("75"),
        Decimal("25"),
    )
    assert found.transferable == Decimal("75")


def test_transferable_of_an_account_never_used_is_zero(db, alice):
    found = transfers.transferable(AccountsReader(db), alice, "BTC", TRADE)
    assert found.transferable == found.balance == found.holds == Decimal(0)


def test_transferable_of_an_unknown_currency_is_refused(db, alice):
    with pytest.raises(InvalidInput) as caught:
        transfers.transferable(AccountsReader(db), alice, "NOPE", MAIN)
    assert caught.value.field == "currency"
