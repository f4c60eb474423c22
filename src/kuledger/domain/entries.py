"""Ledger entries: immutable, append-only records of every balance movement."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import NamedTuple

from kuledger.domain.accounts import AccountKey, AccountType, Book
from kuledger.domain.biztypes import BizType


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


# The text of each AccountType, Direction and Book member, for hashing and
# rows: `.value` is a property lookup, asked three times an entry on the bulk
# write path.
VALUE_OF: dict[enum.Enum, str] = {
    member: member.value for kind in (AccountType, Direction, Book) for member in kind
}


class Posting(NamedTuple):
    """One entry an operation will write: `amount` moves, `fee` is the part of it
    that was a fee. The balance changes by exactly `amount` (KuCoin's convention).
    NamedTuples, this and the next: one is planned per entry, and a frozen
    dataclass's __init__ sets each field through object.__setattr__."""

    key: AccountKey
    direction: Direction
    amount: Decimal
    biz: BizType
    fee: Decimal = Decimal(0)
    context: str = ""


class HoldChange(NamedTuple):
    """Move `amount` between available and holds (release=True: back to available)."""

    key: AccountKey
    amount: Decimal
    release: bool = False


class Entry(NamedTuple):
    """A written ledger entry. `balance` is the account's total right after it;
    `hash` chains it to the account's previous entry (domain.chain). A
    NamedTuple: bulk ingestion builds one per entry, and a frozen dataclass's
    __init__ was 7 µs of that."""

    id: int
    uid: str
    account_id: str
    account_type: AccountType
    currency: str
    amount: Decimal
    fee: Decimal
    balance: Decimal
    direction: Direction
    biz_code: str
    created_at: int
    context: str
    seq: int
    book: Book
    hash: str = ""  # the link in the account's hash chain (domain.chain)
    # The operation record that wrote it (services.ports.StoredOperation's
    # key); None on entries written before migration 0005 (chain v1).
    op_uid: str | None = None
    op_id: str | None = None
