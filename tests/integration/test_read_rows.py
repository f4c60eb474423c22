"""The reader's named rows carry each column under its own name, on both engines."""

from __future__ import annotations

from decimal import Decimal

from kuledger.bootstrap import Container
from kuledger.domain.accounts import Book
from kuledger.services import ledger, users
from kuledger.services.ports import ContractFilter, LedgerFilter, Seek


def _deposit(c: Container, op_id: str, amount: str, account: str) -> None:
    c.clock.advance(1000)
    ledger.apply(
        c.uow,
        {
            "op": "deposit",
            "uid": "u1",
            "id": op_id,
            "currency": "USDT",
            "amount": amount,
            "account": account,
            "context": f'{{"op":"{op_id}"}}',
        },
        c.clock,
    )


def test_rows_name_their_columns(container: Container):
    users.create_user(container.uow, container.clock, uid="u1")
    _deposit(container, "d1", "10.50", "main")
    _deposit(container, "d2", "2", "contract")
    reader = container.reader
    window = LedgerFilter("u1", Book.SPOT, 0, container.clock())
    marker, total, [spot] = reader.counted_entry_rows(window, Seek(), 10, None)
    assert marker == 2  # the sum of the user's accounts' seq
    assert total == 1  # the spot book's one entry (the contract one is not)
    assert spot.currency == "USDT"
    assert spot.amount == spot.balance == "10.5"
    assert spot.fee == "0"
    assert (spot.account_type, spot.biz_code, spot.direction) == (
        "main", "DEPOSIT", "in",
    )  # fmt: skip
    assert spot.context == '{"op":"d1"}'
    assert reader.entry_rows_before(window, None, 10) == [spot]
    [futures] = reader.contract_rows(ContractFilter("u1"), 10)
    assert (futures.biz_code, futures.direction, futures.context) == (
        "DEPOSIT", "in", '{"op":"d2"}',
    )  # fmt: skip
    assert futures.id > spot.id and futures.created_at == spot.created_at + 1000
    trail = list(reader.entry_trail())
    assert {(t.id, t.seq, t.account_type) for t in trail} == {
        (spot.id, 1, "main"),
        (futures.id, 1, "contract"),
    }
    by_id = {t.id: t for t in trail}
    assert by_id[spot.id].amount == Decimal("10.5")
    assert by_id[futures.id].balance == Decimal(2)
    assert all(len(t.hash) == 64 and t.uid == "u1" for t in trail)
