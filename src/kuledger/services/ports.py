"""What the services need from storage and crypto, as Protocols."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import NamedTuple, Protocol

from kuledger.domain.accounts import Account, AccountKey, AccountType, Book
from kuledger.domain.entries import Entry
from kuledger.domain.events import BalanceChange
from kuledger.domain.funding import DepositAddress, DepositRecord, WithdrawalRecord
from kuledger.domain.money import Currency
from kuledger.domain.subaccounts import SubAccount
from kuledger.domain.users import User

Clock = Callable[[], int]  # milliseconds since the epoch


class StorageUnavailable(Exception):
    """Raised by storage when the database cannot be reached (down,
    restarting, refusing connections); its cause is the driver's error.
    Nothing was written by the statement that raised it; try again later."""


@dataclass(frozen=True, slots=True)
class StoredOperation:
    """An applied operation, kept so a replay of its id returns the same result."""

    uid: str
    op_id: str
    fingerprint: str
    result: str  # JSON of services.ledger.OperationResult
    created_at: int


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    """Which entries a ledger query selects. Bounds are inclusive, in ms."""

    uid: str
    book: Book
    start_at: int
    end_at: int
    currencies: tuple[str, ...] = ()
    direction: str | None = None
    biz_codes: tuple[str, ...] = ()
    account_types: tuple[AccountType, ...] = ()


Position = tuple[int, int]  # (created_at, id) of a ledger page's last row


@dataclass(frozen=True, slots=True)
class Seek:
    """Where a ledger page starts."""

    after: Position | None = None  # after this row (None: from the newest)
    offset: int = 0  # then skip this many rows


@dataclass(frozen=True, slots=True)
class ContractFilter:
    """Which contract-account entries (every book) the futures ledger selects.
    Bounds are inclusive, in ms; None: unbounded."""

    uid: str
    currency: str | None = None
    biz_codes: tuple[str, ...] = ()
    direction: str | None = None
    start_at: int | None = None
    end_at: int | None = None
    offset: int | None = None  # ids below it (forward) or above it (backward)
    forward: bool = True  # newest first


class LedgerRow(NamedTuple):
    """An entry as the ledger pages show it: amounts as decimal text."""

    id: int
    currency: str
    amount: str
    fee: str
    balance: str
    account_type: str
    biz_code: str
    direction: str
    created_at: int
    context: str


class CountedPage(NamedTuple):
    """A ledger page as LedgerReader.counted_entry_rows reads it."""

    marker: int  # the user's change marker (see LedgerReader.counted_entry_rows)
    total: int | None  # entries in the window; None: not counted (marker unchanged)
    rows: list[LedgerRow]


class ContractRow(NamedTuple):
    """A contract-account entry as the futures ledger shows it."""

    id: int
    currency: str
    amount: str
    fee: str
    balance: str
    biz_code: str
    direction: str
    created_at: int
    context: str


class TrailRow(NamedTuple):
    """An entry as `verify` replays it: all of it, and its stored hash."""

    account_id: str
    seq: int
    amount: Decimal
    direction: str
    balance: Decimal
    id: int
    uid: str
    account_type: str
    currency: str
    fee: Decimal
    biz_code: str
    created_at: int
    context: str
    hash: str
    book: str | None = None  # None: not read (then not checked)
    op_uid: str | None = None  # the operation record the entry names (chain v2)
    op_id: str | None = None
    operation: StoredOperation | None = None  # that record, if it exists


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An API key row as stored: secret material still sealed."""

    key: str
    uid: str
    sealed: bytes
    permissions: str
    ip_whitelist: str
    key_version: int
    created_at: int
    revoked_at: int | None
    vip_level: int = 0  # the owner's, when read with the key


class EventSink(Protocol):
    """Where committed balance changes go (the balance stream's fan-out)."""

    def publish(self, changes: Sequence[BalanceChange]) -> None: ...


class SecretBox(Protocol):
    """Seals secrets at rest (authenticated encryption)."""

    def seal(self, plaintext: bytes) -> bytes: ...
    def open(self, sealed: bytes) -> bytes: ...


class LedgerStore(Protocol):
    def currencies(self) -> dict[str, Currency]: ...
    def find_operations(
        self, refs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredOperation]: ...
    def lock_accounts(self, keys: Iterable[AccountKey]) -> dict[AccountKey, Account]:
        """Lock (creating where missing) the accounts, in a fixed order."""
        ...

    def allocate_entry_ids(self, count: int) -> Iterator[int]: ...
    def save(
        self,
        accounts: Iterable[Account],
        entries: Sequence[Entry],
        operations: Sequence[StoredOperation],
    ) -> None: ...


class UserStore(Protocol):
    def get(self, uids: Iterable[str]) -> dict[str, User]: ...
    def add(self, *users: User) -> None: ...
    def update(self, user: User) -> None: ...


class KeyStore(Protocol):
    def add(self, key: StoredKey) -> None: ...
    def get(self, key: str) -> StoredKey | None: ...
    def revoke(self, key: str, at: int) -> bool: ...
    def for_user(self, uid: str) -> list[StoredKey]: ...
    def update(self, key: StoredKey) -> None:
        """Store the key's permissions, IP whitelist and sealed material."""
        ...


@dataclass(frozen=True, slots=True)
class SubKeyInfo:
    """What a sub-account API key has beyond the key itself."""

    key: str
    remark: str
    expire_days: str  # "-1" (never), "30", "90", "180", "360"


class SubAccountStore(Protocol):
    """A master's sub-accounts: every user whose parent_uid is the master,
    named or not (storage/subaccounts.py)."""

    def add(self, sub: SubAccount) -> None:
        """Raises domain.errors.SubNameTaken if the master has that name."""
        ...

    def get(self, parent_uid: str, uid: str) -> SubAccount | None: ...
    def by_name(self, parent_uid: str, name: str) -> SubAccount | None: ...
    def count(self, parent_uid: str) -> int: ...
    def page(self, parent_uid: str, offset: int, limit: int) -> list[SubAccount]:
        """Oldest first (created_at, then uid)."""
        ...

    def enable(self, sub: SubAccount, *, margin: bool, futures: bool) -> None: ...
    def put_key_info(self, info: SubKeyInfo) -> None: ...
    def key_info(self, keys: Iterable[str]) -> dict[str, SubKeyInfo]: ...


class FundingStore(Protocol):
    """The write side, inside a unit of work; `deposit` and `withdrawal`
    lock the record until the transaction ends."""

    def address(self, uid: str, currency: str, chain: str) -> DepositAddress | None: ...
    def put_address(self, a: DepositAddress) -> None: ...
    def deposit(self, record_id: str) -> DepositRecord | None: ...
    def add_deposit(self, r: DepositRecord) -> None: ...
    def update_deposit(self, r: DepositRecord) -> None: ...
    def withdrawal(self, record_id: str) -> WithdrawalRecord | None: ...
    def add_withdrawal(self, r: WithdrawalRecord) -> None: ...
    def update_withdrawal(self, r: WithdrawalRecord) -> None: ...


class UnitOfWork(Protocol):
    """One write transaction: rolled back on exit unless commit() was called."""

    @property
    def ledger(self) -> LedgerStore: ...
    @property
    def users(self) -> UserStore: ...
    @property
    def keys(self) -> KeyStore: ...
    @property
    def subaccounts(self) -> SubAccountStore: ...
    @property
    def funding(self) -> FundingStore: ...

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class LedgerReader(Protocol):
    """Read-side queries; implementations may skip domain objects for speed."""

    def currencies(self) -> dict[str, Currency]: ...
    def user(self, uid: str) -> User | None: ...
    def accounts(
        self, uid: str, currency: str | None = None, type_: AccountType | None = None
    ) -> list[Account]: ...
    def account(self, uid: str, account_id: str) -> Account | None: ...
    def counted_entry_rows(
        self, query: LedgerFilter, seek: Seek, limit: int, counted_at: int | None
    ) -> CountedPage:
        """The user's change marker (a number that moves whenever any of their
        accounts gets an entry), a page of rows (newest first, ties by id
        descending) and how many entries the whole window holds, read
        together; not counted (total None) when the marker is `counted_at`,
        the marker a remembered total was counted at."""
        ...

    def entry_rows_before(
        self, query: LedgerFilter, last_id: int | None, limit: int
    ) -> list[LedgerRow]: ...
    def contract_rows(self, query: ContractFilter, limit: int) -> list[ContractRow]:
        """By id: descending if query.forward, else ascending."""
        ...

    def entries(
        self,
        uid: str,
        currency: str | None,
        since: int | None,
        until: int | None,
        limit: int | None,
    ) -> Iterator[Entry]: ...
    def api_key(self, key: str) -> StoredKey | None: ...


@dataclass(frozen=True, slots=True)
class Expired:
    """What lies beyond a retention horizon (created_at < horizon)."""

    entries: int
    accounts: int  # accounts with at least one of those entries
    operations: int  # idempotency records
    oldest_entry_at: int | None
    partitions: tuple[tuple[str, int], ...] = ()  # (name, start): whole months


@dataclass(frozen=True, slots=True)
class DeletedBatch:
    """One retention transaction: `deleted` entries, ids up to `last_id`
    looked at (None: nothing was left to delete)."""

    deleted: int
    last_id: int | None


class RetentionStore(Protocol):
    """Deletes history older than a horizon, in short transactions, keeping each
    account's base (accounts.base_seq/base_balance) in step with what is left."""

    def expired(self, horizon: int) -> Expired: ...
    def delete_entries(self, before: int, after_id: int, limit: int) -> DeletedBatch:
        """Delete up to `limit` entries with created_at < before and id > after_id,
        lowest ids first, moving their accounts' bases in the same transaction."""
        ...

    def drop_partitions(self, horizon: int) -> list[tuple[str, int]]:
        """Drop whole monthly partitions older than horizon, oldest first, while
        no older entry remains outside them; (name, entries) of each."""
        ...

    def delete_operations(self, before: int, limit: int) -> int: ...
