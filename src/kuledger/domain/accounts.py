"""Account types, the ledgers that show them, and an account's balances."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import NamedTuple

from kuledger.domain.chain import GENESIS
from kuledger.domain.errors import InsufficientBalance, UnknownAccountType
from kuledger.domain.money import MONEY, ZERO


class AccountType(enum.StrEnum):
    """KuCoin account types; the value is the lowercase spelling of /api/v1/accounts."""

    MAIN = "main"
    TRADE = "trade"
    MARGIN = "margin"
    ISOLATED = "isolated"
    TRADE_HF = "trade_hf"
    MARGIN_V2 = "margin_v2"
    ISOLATED_V2 = "isolated_v2"
    CONTRACT = "contract"
    OPTION = "option"

    @property
    def wire(self) -> str:
        """The uppercase spelling used by ledger items and universal transfers."""
        return self.value.upper()

    @classmethod
    def parse(cls, value: object, field: str = "account") -> AccountType:
        """The type named by lowercase `value`, or raise UnknownAccountType."""
        # A dict lookup: the enum's own cls(value) was 3% of bulk ingestion.
        found = _ACCOUNT_TYPES.get(value) if isinstance(value, str) else None
        if found is None:
            names = ", ".join(t.value for t in cls)
            raise UnknownAccountType(
                field, f"{field} not in the given range: {value!r} (one of {names})"
            )
        return found


_ACCOUNT_TYPES = {t.value: t for t in AccountType}


class Book(enum.StrEnum):
    """Which ledger endpoint shows an entry."""

    SPOT = "spot"  # GET /api/v1/accounts/ledgers
    HF = "hf"  # GET /api/v1/hf/accounts/ledgers
    MARGIN_HF = "margin_hf"  # GET /api/v3/hf/margin/account/ledgers
    FUTURES = "futures"  # GET /api/v1/transaction-history only


_BOOK_OF_TYPE = {
    AccountType.TRADE_HF: Book.HF,
    AccountType.MARGIN_V2: Book.MARGIN_HF,
    AccountType.ISOLATED_V2: Book.MARGIN_HF,
    AccountType.CONTRACT: Book.FUTURES,
}
TRANSFER_CODES = frozenset({"TRANSFER", "SUB_TRANSFER"})


def book_of(account_type: AccountType, biz_code: str) -> Book:
    """The ledger that shows an entry; contract transfer legs also show in spot."""
    # Remembered per pair: enum member lookups made this 3% of bulk ingestion.
    book = _BOOKS.get((account_type, biz_code))
    if book is None:
        if account_type is AccountType.CONTRACT and biz_code in TRANSFER_CODES:
            book = Book.SPOT
        else:
            book = _BOOK_OF_TYPE.get(account_type, Book.SPOT)
        _BOOKS[(account_type, biz_code)] = book
    return book


_BOOKS: dict[tuple[AccountType, str], Book] = {}


class AccountKey(NamedTuple):
    """What identifies an account: one per user, type and currency. A tuple:
    it is hashed for every posting, and a tuple hashes in C."""

    uid: str
    type: AccountType
    currency: str


class Account(NamedTuple):
    """An account's state. balance = available + holds; none is ever negative.

    A NamedTuple, not a frozen dataclass: one is built for every posting, and
    a frozen dataclass's __init__ (a setattr per field) cost 3 µs of it."""

    id: str
    key: AccountKey
    balance: Decimal = ZERO
    available: Decimal = ZERO
    holds: Decimal = ZERO
    seq: int = 0  # sequence number of the latest entry; entries count 1, 2, 3...
    last_entry_at: int = 0  # createdAt of the latest entry, in ms
    # Retention deletes an account's oldest entries; these say where what is
    # kept starts: the seq of the last deleted entry and the balance after it.
    base_seq: int = 0
    base_balance: Decimal = ZERO
    # The hash of the latest entry (the chain head), and of the last entry
    # retention deleted (where the kept chain starts); GENESIS while none.
    chain_head: str = GENESIS
    base_hash: str = GENESIS

    # The transitions build the next state with the positional constructor:
    # dataclasses.replace() inspects the fields on every call and cost 14% of
    # bulk ingestion when it was used here.
    def _next(
        self,
        balance: Decimal,
        available: Decimal,
        holds: Decimal,
        seq: int,
        last_entry_at: int,
        chain_head: str,
    ) -> Account:
        return Account(
            self.id,
            self.key,
            balance,
            available,
            holds,
            seq,
            last_entry_at,
            self.base_seq,
            self.base_balance,
            chain_head,
            self.base_hash,
        )

    def posted(self, credit: bool, amount: Decimal, at: int) -> Account:
        """The state after one entry at `at`: credited or debited, seq + 1."""
        if credit:
            balance = MONEY.add(self.balance, amount)
            available = MONEY.add(self.available, amount)
        else:
            self._require_available(amount)
            balance = MONEY.subtract(self.balance, amount)
            available = MONEY.subtract(self.available, amount)
        return self._next(
            balance, available, self.holds, self.seq + 1, at, self.chain_head
        )

    def held(self, amount: Decimal) -> Account:
        self._require_available(amount)
        return self._next(
            self.balance,
            MONEY.subtract(self.available, amount),
            MONEY.add(self.holds, amount),
            self.seq,
            self.last_entry_at,
            self.chain_head,
        )

    def released(self, amount: Decimal) -> Account:
        if amount > self.holds:
            raise InsufficientBalance(
                self.key.uid,
                f"{self.key.type.value} holds",
                self.key.currency,
                amount,
                self.holds,
            )
        return self._next(
            self.balance,
            MONEY.add(self.available, amount),
            MONEY.subtract(self.holds, amount),
            self.seq,
            self.last_entry_at,
            self.chain_head,
        )

    def chained_to(self, head: str) -> Account:
        """The same state with `head` as the hash of its latest entry."""
        return self._next(
            self.balance,
            self.available,
            self.holds,
            self.seq,
            self.last_entry_at,
            head,
        )

    def _require_available(self, amount: Decimal) -> None:
        if amount > self.available:
            raise InsufficientBalance(
                self.key.uid,
                self.key.type.value,
                self.key.currency,
                amount,
                self.available,
            )
