"""Test doubles for pure-logic unit tests: a controllable clock and an in-memory
unit of work implementing services.ports, so service rules can be tested
without a database. The database-backed tests remain the word on storage."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType

from kuledger.domain.accounts import Account, AccountKey
from kuledger.domain.currencies import DEFAULT_CURRENCIES
from kuledger.domain.entries import Entry
from kuledger.domain.events import BalanceChange
from kuledger.domain.money import Currency
from kuledger.domain.users import User
from kuledger.services.ports import StoredKey, StoredOperation


class FakeClock:
    """Milliseconds that only move when a test says so."""

    def __init__(self, now: int = 1_790_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


@dataclasses.dataclass
class FakeState:
    """Everything a database would hold. Values are immutable; a transaction
    works on a shallow copy and commit() swaps it in."""

    currencies: dict[str, Currency]
    users: dict[str, User] = dataclasses.field(default_factory=dict)
    keys: dict[str, StoredKey] = dataclasses.field(default_factory=dict)
    accounts: dict[AccountKey, Account] = dataclasses.field(default_factory=dict)
    entries: list[Entry] = dataclasses.field(default_factory=list)
    operations: dict[tuple[str, str], StoredOperation] = dataclasses.field(
        default_factory=dict
    )

    def copy(self) -> FakeState:
        return FakeState(
            dict(self.currencies),
            dict(self.users),
            dict(self.keys),
            dict(self.accounts),
            list(self.entries),
            dict(self.operations),
        )


class FakeLedgerStore:
    def __init__(self, state: FakeState, ids: Iterator[int]) -> None:
        self._state = state
        self._ids = ids

    def currencies(self) -> dict[str, Currency]:
        return dict(self._state.currencies)

    def find_operations(
        self, refs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredOperation]:
        known = self._state.operations
        return {ref: known[ref] for ref in refs if ref in known}

    def lock_accounts(self, keys: Iterable[AccountKey]) -> dict[AccountKey, Account]:
        accounts = self._state.accounts
        wanted = sorted(keys)
        for key in wanted:
            if key not in accounts:
                accounts[key] = Account(f"{len(accounts) + 1:024x}", key)
        return {key: accounts[key] for key in wanted}

    def allocate_entry_ids(self, count: int) -> Iterator[int]:
        # Like PostgreSQL's sequence: ids are never handed out twice, even
        # when the transaction that took them rolls back.
        return iter([next(self._ids) for _ in range(count)])

    def save(
        self,
        accounts: Iterable[Account],
        entries: Sequence[Entry],
        operations: Sequence[StoredOperation],
    ) -> None:
        for account in accounts:
            self._state.accounts[account.key] = account
        self._state.entries.extend(entries)
        for op in operations:
            self._state.operations[op.uid, op.op_id] = op


class FakeUserStore:
    def __init__(self, state: FakeState) -> None:
        self._state = state

    def get(self, uids: Iterable[str]) -> dict[str, User]:
        users = self._state.users
        return {uid: users[uid] for uid in uids if uid in users}

    def add(self, *users: User) -> None:
        for user in users:
            assert user.uid not in self._state.users, "the schema's primary key"
            self._state.users[user.uid] = user

    def update(self, user: User) -> None:
        self._state.users[user.uid] = user


class FakeKeyStore:
    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add(self, key: StoredKey) -> None:
        self._state.keys[key.key] = key

    def get(self, key: str) -> StoredKey | None:
        return self._state.keys.get(key)

    def revoke(self, key: str, at: int) -> bool:
        stored = self._state.keys.get(key)
        if stored is None or stored.revoked_at is not None:
            return False
        self._state.keys[key] = dataclasses.replace(stored, revoked_at=at)
        return True

    def update(self, key: StoredKey) -> None:
        self._state.keys[key.key] = key

    def for_user(self, uid: str) -> list[StoredKey]:
        mine = [k for k in self._state.keys.values() if k.uid == uid]
        return sorted(mine, key=lambda k: k.created_at)


class FakeUnitOfWork:
    """One transaction over a FakeDatabase: rolled back unless committed."""

    def __init__(self, database: FakeDatabase) -> None:
        self._database = database
        self._state = database.state.copy()
        self.ledger = FakeLedgerStore(self._state, database.entry_ids)
        self.users = FakeUserStore(self._state)
        self.keys = FakeKeyStore(self._state)

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass  # what was not committed goes with this object's copy

    def commit(self) -> None:
        self._database.state = self._state
        self._database.commits += 1


class FakeDatabase:
    """The UnitOfWorkFactory services take: call it for a FakeUnitOfWork."""

    def __init__(self, currencies: Iterable[Currency] = DEFAULT_CURRENCIES) -> None:
        self.state = FakeState({c.code: c for c in currencies})
        self.entry_ids = itertools.count(1)
        self.commits = 0

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def account(self, key: AccountKey) -> Account | None:
        return self.state.accounts.get(key)


class RecordingSink:
    """An EventSink that keeps each published batch of balance changes."""

    def __init__(self) -> None:
        self.batches: list[list[BalanceChange]] = []

    def publish(self, changes: Sequence[BalanceChange]) -> None:
        self.batches.append(list(changes))


class PlainBox:
    """A SecretBox that only marks what it seals: opening checks the mark."""

    MARK = b"sealed:"

    def seal(self, plaintext: bytes) -> bytes:
        return self.MARK + plaintext

    def open(self, sealed: bytes) -> bytes:
        assert sealed.startswith(self.MARK), "not sealed by this box"
        return sealed.removeprefix(self.MARK)
