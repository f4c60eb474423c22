"""Balances at a time for every user, and a user's month-end statement:
opening balance, the month's movements by business type, closing balance,
reconciled to the entries.

Both stand on `services.operator.balances` (the operator API's balance at a
time: one seek in ix_entries_account_time per account). A month is the UTC
calendar month: from the 1st at 00:00:00.000 to the last day at 23:59:59.999,
both inclusive; the opening balance is each account's balance just before
it (after its last entry at start - 1 ms), the closing one at its last
millisecond."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple, Protocol

from kuledger.domain.accounts import Account
from kuledger.domain.entries import Direction
from kuledger.domain.errors import InvalidInput
from kuledger.domain.money import MONEY, ZERO, to_wire
from kuledger.services.operator import BalanceAt, OperatorQueries, balances

USERS_PAGE = 500


class MonthEntry(NamedTuple):
    """What a statement reads of an entry (field names are column names)."""

    biz_code: str
    direction: Direction
    amount: Decimal
    fee: Decimal
    balance: Decimal
    seq: int


class StatementEntries(Protocol):
    def month_entries(
        self, account_id: str, since: int, until: int
    ) -> Iterator[MonthEntry]:
        """The account's entries with since <= createdAt <= until."""
        ...


_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def balances_of_everyone(
    queries: OperatorQueries, at: int | None
) -> Iterator[tuple[str, list[BalanceAt]]]:
    """(uid, its balances at `at`) for every user, in uid order, a page of
    users at a time."""
    after: str | None = None
    while True:
        page = queries.users(after, USERS_PAGE)
        for user in page:
            yield user.uid, balances(queries, user.uid, at)
        if len(page) < USERS_PAGE:
            return
        after = page[-1].uid


@dataclass(frozen=True, slots=True)
class Month:
    """A UTC calendar month as inclusive millisecond bounds."""

    name: str  # YYYY-MM
    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.fullmatch(text.strip())
        if match is None:
            raise InvalidInput("month", f"month must be YYYY-MM, got {text!r}")
        year, month = int(match[1]), int(match[2])
        first = datetime(year, month, 1, tzinfo=UTC)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        start, end = int(first.timestamp()) * 1000, int(following.timestamp()) * 1000
        return cls(f"{year:04d}-{month:02d}", start, end - 1)


@dataclass(slots=True)
class Movement:
    """The month's entries of one account with one business type and direction."""

    biz_code: str
    direction: Direction
    amount: Decimal = ZERO
    fee: Decimal = ZERO
    entries: int = 0


@dataclass(slots=True)
class AccountStatement:
    account: Account
    opening: BalanceAt
    closing: BalanceAt
    movements: dict[tuple[str, Direction], Movement] = field(default_factory=dict)
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_balance: Decimal | None = None  # post-balance of the month's last entry
    first_before: Decimal | None = None  # the balance before the month's first entry
    problems: list[str] = field(default_factory=list)

    def total(self, direction: Direction) -> Decimal:
        moved = self.movements.values()
        return _sum(m.amount for m in moved if m.direction is direction)

    @property
    def total_in(self) -> Decimal:
        return self.total(Direction.IN)

    @property
    def total_out(self) -> Decimal:
        return self.total(Direction.OUT)

    @property
    def net(self) -> Decimal:
        return MONEY.subtract(self.total_in, self.total_out)

    @property
    def reconciled(self) -> bool:
        return not self.problems

    def add(self, entry: MonthEntry) -> None:
        key = (entry.biz_code, entry.direction)
        movement = self.movements.get(key) or Movement(*key)
        self.movements[key] = movement
        movement.amount = MONEY.add(movement.amount, entry.amount)
        movement.fee = MONEY.add(movement.fee, entry.fee)
        movement.entries += 1
        self.entries += 1
        if self.last_seq is None or entry.seq > self.last_seq:
            self.last_seq, self.last_balance = entry.seq, entry.balance
        if self.first_seq is None or entry.seq < self.first_seq:
            self.first_seq = entry.seq
            signed = entry.amount if entry.direction is Direction.IN else -entry.amount
            self.first_before = MONEY.subtract(entry.balance, signed)

    def reconcile(self) -> None:
        """Closing = opening + movements = the last post-balance, and the
        month's entries are exactly those numbered between the two."""
        opening, closing = self.opening.balance, self.closing.balance
        expected = MONEY.add(opening, self.net)
        if expected != closing:
            self.problems.append(
                f"opening {to_wire(opening)} + movements {to_wire(self.net)} = "
                f"{to_wire(expected)}, but the closing balance is {to_wire(closing)}"
            )
        if self.last_balance is not None and self.last_balance != closing:
            self.problems.append(
                f"the last entry's post-balance is {to_wire(self.last_balance)}, "
                f"the closing balance {to_wire(closing)}"
            )
        if self.first_before is not None and self.first_before != opening:
            self.problems.append(
                f"the month's first entry starts from {to_wire(self.first_before)}, "
                f"the opening balance is {to_wire(opening)}"
            )
        numbered = self.closing.seq - self.opening.seq
        if self.entries != numbered:
            self.problems.append(
                f"{self.entries} entries in the month, but the sequence numbers "
                f"{self.opening.seq}..{self.closing.seq} count {numbered}"
            )


@dataclass(frozen=True, slots=True)
class Statement:
    uid: str
    month: Month
    accounts: list[AccountStatement]

    @property
    def reconciled(self) -> bool:
        return all(a.reconciled for a in self.accounts)


def month_statement(
    queries: OperatorQueries, entries: StatementEntries, uid: str, month: Month
) -> Statement:
    """`uid`'s statement for `month`, each account's entries read by a range
    seek of their own. Accounts with nothing to show (zero at both ends, no
    entry) are left out. Read it all in one snapshot to see one state."""
    openings = {b.account.id: b for b in balances(queries, uid, month.start - 1)}
    shown = []
    for closing in balances(queries, uid, month.end):
        account = closing.account
        statement = AccountStatement(account, openings[account.id], closing)
        if closing.seq != statement.opening.seq:  # else nothing in the month
            for entry in entries.month_entries(account.id, month.start, month.end):
                statement.add(entry)
        if statement.entries or statement.opening.balance or closing.balance:
            statement.reconcile()
            shown.append(statement)
    shown.sort(key=lambda s: (s.account.key.type.value, s.account.key.currency))
    return Statement(uid, month, shown)


def _sum(values: Iterable[Decimal]) -> Decimal:
    total = ZERO
    for value in values:
        total = MONEY.add(total, value)
    return total
