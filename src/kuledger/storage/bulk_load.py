"""copy_load: a history written to PostgreSQL in one transaction with COPY
(`kuledger seed --copy`), through the same posting code as every write.

The operations go through services.ledger.apply_batch as ever (parsing,
plans, apply_plan's balances and hash chains, the operation records); only
the unit of work differs. Accounts live in memory for the whole load and are
written once at its end; entry ids come from a local counter and the
sequence is moved past them at the end; entries and operation records go in
with COPY batch by batch; nothing is looked up per batch but the users. The
accounts table is locked (EXCLUSIVE: readers go on, writers wait) for the
whole transaction, so no other writer can post, or take an entry id, in
between. Interrupted, the load leaves nothing behind. After the commit the
tables are vacuumed and analyzed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuledger.domain.accounts import Account, AccountKey
from kuledger.domain.entries import Entry
from kuledger.domain.money import Currency
from kuledger.services.ports import StoredOperation, UnitOfWorkFactory
from kuledger.storage import schema
from kuledger.storage.dialect import POSTGRES
from kuledger.storage.funding import SqlFundingStore
from kuledger.storage.sql import (
    _ACCOUNT_COLUMNS,
    SqlKeyStore,
    SqlLedgerStore,
    SqlUserStore,
    new_account_id,
)
from kuledger.storage.subaccounts import SqlSubAccountStore


class CopyLedgerStore:
    """The LedgerStore of a bulk load: accounts in memory, ids counted here,
    entries and operation records copied in as each batch is saved."""

    def __init__(self, connection: sa.Connection) -> None:
        self._sql = SqlLedgerStore(connection, POSTGRES)
        self._conn = connection
        self._accounts: dict[AccountKey, Account] = {}
        self._stored: set[AccountKey] = set()  # accounts the database already has
        self._currencies = self._sql.currencies()
        last, called = connection.exec_driver_sql(
            f"SELECT last_value, is_called FROM {schema.ENTRY_ID_SEQUENCE}"
        ).one()
        self._first_id = last + 1 if called else last
        self._next_id = self._first_id

    def currencies(self) -> dict[str, Currency]:
        return self._currencies

    def find_operations(
        self, refs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredOperation]:
        """Only new operation ids are loaded: a taken one fails the COPY (an
        IdempotencyConflict), which ends the load and writes nothing."""
        del refs
        return {}

    def lock_accounts(self, keys: Iterable[AccountKey]) -> dict[AccountKey, Account]:
        wanted = set(keys)
        unseen = [k for k in wanted if k not in self._accounts]
        if unseen:
            stored = self._sql.read_accounts(unseen)
            self._stored.update(stored)
            for key in unseen:
                self._accounts[key] = stored.get(key) or Account(new_account_id(), key)
        return {k: self._accounts[k] for k in wanted}

    def allocate_entry_ids(self, count: int) -> Iterator[int]:
        first = self._next_id
        self._next_id += count
        return iter(range(first, first + count))

    def save(
        self,
        accounts: Iterable[Account],
        entries: Sequence[Entry],
        operations: Sequence[StoredOperation],
    ) -> None:
        for account in accounts:
            self._accounts[account.key] = account
        self._sql.save((), entries, operations)

    def finish(self) -> None:
        """Write the accounts (new ones copied in, stored ones updated) and
        move the entry id sequence past the ids used."""
        new = [a for k, a in self._accounts.items() if k not in self._stored]
        self._sql.save([self._accounts[k] for k in self._stored], (), ())
        if new:
            self._sql.insert_rows("accounts", _ACCOUNT_COLUMNS, [_row(a) for a in new])
        if self._next_id > self._first_id:
            self._conn.exec_driver_sql(
                f"SELECT setval('{schema.ENTRY_ID_SEQUENCE}', %s)",
                (self._next_id - 1,),
            )


def _row(a: Account) -> tuple[Any, ...]:
    money = POSTGRES.money
    return (
        a.id,
        a.key.uid,
        a.key.type.value,
        a.key.currency,
        money(a.balance),
        money(a.available),
        money(a.holds),
        a.seq,
        a.last_entry_at,
        a.base_seq,
        money(a.base_balance),
        a.chain_head,
        a.base_hash,
    )


class _BatchUnitOfWork:
    """One apply_batch's unit of work inside the load's transaction: its
    commit is the load's to make, at the end."""

    def __init__(self, connection: sa.Connection, ledger: CopyLedgerStore) -> None:
        self.ledger = ledger
        self.users = SqlUserStore(connection, POSTGRES)
        self.keys = SqlKeyStore(connection)
        self.subaccounts = SqlSubAccountStore(connection)
        self.funding = SqlFundingStore(connection, POSTGRES)

    def __enter__(self) -> _BatchUnitOfWork:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None  # an exception ends the load, which rolls everything back

    def commit(self) -> None:
        return None


@contextmanager
def copy_load(engine: Engine) -> Iterator[UnitOfWorkFactory]:
    """A unit of work factory whose batches are all written in one PostgreSQL
    transaction, committed when the block ends (rolled back if it raises)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("a COPY load needs PostgreSQL")
    with engine.connect() as connection, connection.begin():
        connection.exec_driver_sql("LOCK TABLE accounts IN EXCLUSIVE MODE")
        store = CopyLedgerStore(connection)
        yield lambda: _BatchUnitOfWork(connection, store)
        store.finish()
    # Statistics for the planner, and the visibility map that lets a count
    # read only the index: autovacuum would get there, some time later.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) entries, accounts, operations")
