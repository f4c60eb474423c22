"""The unit of work and its stores, shared by SQLite and PostgreSQL.

Hot paths (locking accounts, inserting entries) use the driver's SQL through
SQLAlchemy's connection: per-row Core compilation would cost bulk ingestion
most of its speed. Everything else uses Core expressions.
"""

from __future__ import annotations

import logging
import secrets
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuledger.domain.accounts import Account, AccountKey, AccountType
from kuledger.domain.entries import VALUE_OF, Entry
from kuledger.domain.errors import IdempotencyConflict
from kuledger.domain.money import Currency, to_wire
from kuledger.domain.users import User
from kuledger.services.key_cache import changed_here
from kuledger.services.ports import StoredKey, StoredOperation
from kuledger.storage import schema
from kuledger.storage.dialect import SqlDialect, dialect_for
from kuledger.storage.funding import SqlFundingStore
from kuledger.storage.subaccounts import SqlSubAccountStore
from kuledger.storage.wal_positions import UNKNOWN, WalPositions, commit_position

log = logging.getLogger("kuledger.replicas")

_CHUNK = 300  # keys per IN (...) list: under SQLite's parameter limit
_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


def _rows_in(columns: str, ph: str, width: int, count: int) -> str:
    """`(columns) IN (SELECT ... FROM (VALUES (?, ?), ...))` for `count` rows.
    Not a chain of ORs: PostgreSQL rechecks every OR term on every row it
    reads (a lookup took over a second once its plan was generic), where this
    is a join of index lookups on both engines."""
    row = "(" + ", ".join([ph] * width) + ")"
    # (SELECT ... FROM (VALUES ...)), not a bare VALUES list: with the bare
    # list SQLite scans the whole index instead of searching it per row.
    names = ", ".join(f"column{i + 1}" for i in range(width))
    return (
        f"({columns}) IN (SELECT {names} FROM (VALUES {', '.join([row] * count)}) "
        "AS wanted)"
    )


def _text_array(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of `values` as text, each element quoted:
    one text parameter (cast with ::text[] or ::numeric[] in the SQL), where
    a list parameter is dumped element by element in Python by psycopg (16%
    of the group-commit writer on PostgreSQL)."""
    quoted = (
        '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
    )
    return "{" + ",".join(quoted) + "}"


_ENTRY_COLUMNS = (
    "id, uid, account_id, account_type, currency, amount, fee, balance, "
    "direction, biz_code, created_at, context, seq, book, hash, op_uid, op_id"
)

_NEW_ACCOUNT_COLUMNS = (
    "id, uid, type, currency, balance, available, holds, seq, last_entry_at"
)
_ACCOUNT_COLUMNS = (
    _NEW_ACCOUNT_COLUMNS + ", base_seq, base_balance, chain_head, base_hash"
)


def new_account_id() -> str:
    """24 lowercase hex characters, like KuCoin's account ids."""
    return secrets.token_hex(12)


def account_from_row(row: Sequence[Any]) -> Account:
    return Account(
        id=row[0],
        key=AccountKey(row[1], AccountType.parse(row[2]), row[3]),
        balance=Decimal(row[4]),
        available=Decimal(row[5]),
        holds=Decimal(row[6]),
        seq=row[7],
        last_entry_at=row[8],
        base_seq=row[9],
        base_balance=Decimal(row[10]),
        chain_head=row[11],
        base_hash=row[12],
    )


# Per engine, accounts this process has seen exist (on PostgreSQL): a batch
# naming only those locks them with one statement. Bounded: cleared when full.
_KNOWN: weakref.WeakKeyDictionary[Engine, set[AccountKey]] = weakref.WeakKeyDictionary()
_KNOWN_ACCOUNTS = 200_000


def _known_accounts(engine: Engine) -> set[AccountKey]:
    known = _KNOWN.get(engine)
    if known is None:
        known = _KNOWN[engine] = set()
    return known


class SqlLedgerStore:
    def __init__(self, connection: sa.Connection, dialect: SqlDialect) -> None:
        self._conn = connection
        self._d = dialect
        self.saved_operations = 0  # in this transaction, for the metrics
        self.written_uids: set[str] = set()  # whose accounts it wrote

    def currencies(self) -> dict[str, Currency]:
        """Driver SQL: every write batch reads the catalogue."""
        rows = self._conn.exec_driver_sql(
            "SELECT code, precision, name FROM currencies"
        )
        return {code: Currency(code, p, name) for code, p, name in rows}

    def find_operations(
        self, refs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredOperation]:
        found: dict[tuple[str, str], StoredOperation] = {}
        wanted = sorted(set(refs))
        for chunk in self._chunks(wanted):
            where, params = self._rows_in("uid, op_id", 2, chunk)
            rows = self._conn.exec_driver_sql(
                "SELECT uid, op_id, fingerprint, result, created_at "
                f"FROM operations WHERE {where}",
                params,
            )
            for row in rows:
                found[(row[0], row[1])] = StoredOperation(*row)
        return found

    def lock_accounts(self, keys: Iterable[AccountKey]) -> dict[AccountKey, Account]:
        """Lock the accounts in (uid, type, currency) byte order, creating the
        missing ones in that same order, so that concurrent writers never wait
        for each other in a cycle."""
        ordered = sorted(set(keys), key=lambda k: (k.uid, k.type.value, k.currency))
        known = _known_accounts(self._conn.engine)
        if self._d.for_update and known.issuperset(ordered):
            # Every account exists (accounts are never deleted): lock them
            # with one SELECT ... FOR UPDATE, not a look first and a lock after.
            locked = self._select(ordered, lock=True)
            if len(locked) == len(ordered):
                return locked
            known.clear()  # another database behind the same URL: look again
            return self._upsert_locked(ordered)
        existing = self._select(ordered, lock=False)
        if all(k in existing for k in ordered):
            if not self._d.for_update:
                return existing
            locked = self._select(ordered, lock=True)
        elif not self._d.for_update:  # SQLite: the write lock is already ours
            self._insert_accounts([k for k in ordered if k not in existing])
            return self._select(ordered, lock=False)
        else:
            locked = self._upsert_locked(ordered)
        if len(known) > _KNOWN_ACCOUNTS:
            known.clear()
        known.update(locked)
        return locked

    def _upsert_locked(
        self, ordered: Sequence[AccountKey]
    ) -> dict[AccountKey, Account]:
        """PostgreSQL: insert the missing accounts and lock them all, in
        `ordered` order, with one upsert per chunk. A multi-row INSERT handles
        its rows in the order given, and ON CONFLICT DO UPDATE locks a row as
        FOR UPDATE does, so this takes the locks in the same order as the
        SELECT ... FOR UPDATE (one key at a time, two round trips each, was
        most of a batch that created accounts)."""
        locked: dict[AccountKey, Account] = {}
        zero = self._d.money(Decimal(0))
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, 0, 0)"] * len(chunk))
            params = tuple(
                v
                for k in chunk
                for v in (new_account_id(), k.uid, k.type.value, k.currency)
                + (zero,) * 3
            )
            rows = self._conn.exec_driver_sql(
                f"INSERT INTO accounts ({_NEW_ACCOUNT_COLUMNS}) VALUES {values} "
                "ON CONFLICT (uid, type, currency) DO UPDATE SET seq = accounts.seq "
                f"RETURNING {_ACCOUNT_COLUMNS}",
                params,
            )
            for row in rows:
                account = account_from_row(row)
                locked[account.key] = account
        return locked

    def read_accounts(self, keys: Sequence[AccountKey]) -> dict[AccountKey, Account]:
        """The stored accounts among `keys`, read without a lock."""
        return self._select(keys, lock=False)

    def _select(
        self, keys: Sequence[AccountKey], lock: bool
    ) -> dict[AccountKey, Account]:
        found: dict[AccountKey, Account] = {}
        c = self._d.collate
        for chunk in self._chunks(keys):
            where, params = self._rows_in(
                "uid, type, currency",
                3,
                [(k.uid, VALUE_OF[k.type], k.currency) for k in chunk],
            )
            order = f" ORDER BY uid{c}, type{c}, currency{c}" if lock else ""
            sql = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE {where}{order}"
            for row in self._conn.exec_driver_sql(
                sql + (self._d.for_update if lock else ""), params
            ):
                account = account_from_row(row)
                found[account.key] = account
        return found

    def _chunks(self, rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """SQLite takes a bounded number of parameters; PostgreSQL's arrays
        take any number of rows in one statement."""
        step = _CHUNK if self._d.name == "sqlite" else max(len(rows), 1)
        for start in range(0, len(rows), step):
            yield rows[start : start + step]

    def _rows_in(
        self, columns: str, width: int, rows: Sequence[tuple[str, ...]]
    ) -> tuple[str, tuple[Any, ...]]:
        """A WHERE clause matching `columns` against `rows` of text, and its
        parameters. On PostgreSQL a join against arrays: a VALUES list of
        hundreds of placeholders is parsed again by psycopg on every batch
        (20% of bulk ingestion), a handful of array parameters is not."""
        if self._d.name == "sqlite":
            where = _rows_in(columns, self._d.ph, width, len(rows))
            return where, tuple(v for row in rows for v in row)
        arrays = ", ".join(["%s::text[]"] * width)
        return (
            f"({columns}) IN (SELECT * FROM unnest({arrays}))",
            tuple(_text_array(column) for column in zip(*rows, strict=True)),
        )

    def _insert_accounts(self, keys: Sequence[AccountKey]) -> None:
        zero = self._d.money(Decimal(0))
        self._conn.exec_driver_sql(
            f"INSERT INTO accounts ({_NEW_ACCOUNT_COLUMNS}) "
            f"VALUES ({self._d.placeholders(9)}) "
            "ON CONFLICT (uid, type, currency) DO NOTHING",
            [
                (
                    new_account_id(),
                    k.uid,
                    k.type.value,
                    k.currency,
                    zero,
                    zero,
                    zero,
                    0,
                    0,
                )
                for k in keys
            ],
        )

    def allocate_entry_ids(self, count: int) -> Iterator[int]:
        if count == 0:
            return iter(())
        if self._d.name == "postgresql":
            rows = self._conn.exec_driver_sql(
                f"SELECT nextval('{schema.ENTRY_ID_SEQUENCE}') "
                "FROM generate_series(1, %s)",
                (count,),
            )
            return iter(sorted(r[0] for r in rows))
        last = self._conn.exec_driver_sql(
            "UPDATE id_counters SET value = value + ? WHERE name = 'entries' "
            "RETURNING value",
            (count,),
        ).scalar_one()
        return iter(range(last - count + 1, last + 1))

    def save(
        self,
        accounts: Iterable[Account],
        entries: Sequence[Entry],
        operations: Sequence[StoredOperation],
    ) -> None:
        # Money as canonical text on both engines: SQLite stores it so, and
        # PostgreSQL reads it into NUMERIC (COPY and the array below) at the
        # scale it is spelled with, as canonical_numeric's Decimal would be.
        ph, money = self._d.ph, to_wire
        accounts = list(accounts)
        self.written_uids.update(a.key.uid for a in accounts)
        account_rows = [
            (
                money(a.balance),
                money(a.available),
                money(a.holds),
                a.seq,
                a.last_entry_at,
                a.chain_head,
                a.id,
            )
            for a in accounts
        ]
        if account_rows and self._d.name == "postgresql":
            self._update_accounts_at_once(account_rows)
        elif account_rows:
            self._conn.exec_driver_sql(
                f"UPDATE accounts SET balance = {ph}, available = {ph}, holds = {ph}, "
                f"seq = {ph}, last_entry_at = {ph}, chain_head = {ph} WHERE id = {ph}",
                account_rows,
            )
        if entries:
            rows = [
                (
                    e.id,
                    e.uid,
                    e.account_id,
                    VALUE_OF[e.account_type],
                    e.currency,
                    money(e.amount),
                    money(e.fee),
                    money(e.balance),
                    VALUE_OF[e.direction],
                    e.biz_code,
                    e.created_at,
                    e.context,
                    e.seq,
                    VALUE_OF[e.book],
                    e.hash,
                    e.op_uid,
                    e.op_id,
                )
                for e in entries
            ]
            self.insert_rows("entries", _ENTRY_COLUMNS, rows)
        if operations:
            self._insert_operations(operations)
            self.saved_operations += len(operations)

    def _update_accounts_at_once(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """PostgreSQL: one UPDATE from arrays, not one statement per account
        (nor a VALUES list of thousands of placeholders, which psycopg parses
        anew for every batch)."""
        self._conn.exec_driver_sql(
            "UPDATE accounts AS a SET balance = v.balance, "
            "available = v.available, holds = v.holds, seq = v.seq, "
            "last_entry_at = v.last_entry_at, chain_head = v.chain_head "
            "FROM unnest(%s::numeric[], %s::numeric[], %s::numeric[], "
            "%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v (balance, "
            "available, holds, seq, last_entry_at, chain_head, id) "
            "WHERE a.id = v.id",
            tuple(_text_array(column) for column in zip(*rows, strict=True)),
        )

    def insert_rows(
        self, table: str, columns: str, rows: list[tuple[Any, ...]]
    ) -> None:
        """executemany on SQLite; on PostgreSQL COPY, in this transaction
        (several times faster than a pipelined executemany of INSERTs)."""
        if self._d.name != "postgresql":
            self._conn.exec_driver_sql(
                f"INSERT INTO {table} ({columns}) "
                f"VALUES ({self._d.placeholders(len(rows[0]))})",
                rows,
            )
            return
        driver = self._conn.connection.driver_connection
        assert driver is not None
        try:
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        except Exception as exc:
            # psycopg's own error (COPY bypasses SQLAlchemy), told by its
            # SQLSTATE so that psycopg is not imported for SQLite: a unique
            # violation is an IntegrityError, as an INSERT's would be.
            if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise sa.exc.IntegrityError(f"COPY {table}", None, exc) from exc
            raise

    def _insert_operations(self, operations: Sequence[StoredOperation]) -> None:
        columns = "uid, op_id, fingerprint, result, created_at"
        rows = [
            (o.uid, o.op_id, o.fingerprint, o.result, o.created_at) for o in operations
        ]
        try:
            self.insert_rows("operations", columns, rows)
        except sa.exc.IntegrityError as exc:
            # Another transaction applied an operation with one of these ids
            # (and other accounts) since we looked: the id is taken.
            first = operations[0]
            raise IdempotencyConflict(first.uid, first.op_id) from exc


class SqlUserStore:
    def __init__(self, connection: sa.Connection, dialect: SqlDialect) -> None:
        self._conn = connection
        self._d = dialect
        self.changed: set[str] = set()  # uids updated: their keys' VIP level

    def get(self, uids: Iterable[str]) -> dict[str, User]:
        """Driver SQL, not Core: every write batch reads its users, and
        compiling an expanding IN cost the group-commit writer 6%."""
        wanted = sorted(set(uids))
        found: dict[str, User] = {}
        postgres = self._d.name == "postgresql"
        step = max(len(wanted), 1) if postgres else _CHUNK
        for start in range(0, len(wanted), step):
            chunk = wanted[start : start + step]
            where = (
                "uid = ANY(%s::text[])"
                if postgres
                else f"uid IN ({self._d.placeholders(len(chunk))})"
            )
            rows = self._conn.exec_driver_sql(
                "SELECT uid, parent_uid, vip_level, hf, created_at FROM users "
                f"WHERE {where}",
                (chunk,) if postgres else tuple(chunk),
            )
            for uid, parent, vip, hf, created_at in rows:
                found[uid] = User(uid, parent, vip, bool(hf), created_at)
        return found

    def add(self, *users: User) -> None:
        if users:  # one executemany: seeding 20,000 users one INSERT each took 7 s
            self._conn.execute(schema.users.insert(), [_user_row(u) for u in users])

    def update(self, user: User) -> None:
        self.changed.add(user.uid)
        self._conn.execute(
            schema.users.update()
            .where(schema.users.c.uid == user.uid)
            .values(**_user_row(user))
        )


def _user_row(user: User) -> dict[str, Any]:
    return {
        "uid": user.uid,
        "parent_uid": user.parent_uid,
        "vip_level": user.vip_level,
        "hf": user.hf,
        "created_at": user.created_at,
    }


class SqlKeyStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._conn = connection
        self.changed: set[str] = set()  # keys revoked or updated

    def add(self, key: StoredKey) -> None:
        self._conn.execute(
            schema.api_keys.insert().values(
                key=key.key,
                uid=key.uid,
                sealed=key.sealed,
                permissions=key.permissions,
                ip_whitelist=key.ip_whitelist,
                key_version=key.key_version,
                created_at=key.created_at,
                revoked_at=key.revoked_at,
            )
        )

    def get(self, key: str) -> StoredKey | None:
        row = self._conn.execute(
            sa.select(schema.api_keys).where(schema.api_keys.c.key == key)
        ).first()
        return None if row is None else stored_key_from_row(row)

    def revoke(self, key: str, at: int) -> bool:
        self.changed.add(key)
        result = self._conn.execute(
            schema.api_keys.update()
            .where(schema.api_keys.c.key == key, schema.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return result.rowcount == 1

    def update(self, key: StoredKey) -> None:
        self.changed.add(key.key)
        self._conn.execute(
            schema.api_keys.update()
            .where(schema.api_keys.c.key == key.key)
            .values(
                sealed=key.sealed,
                permissions=key.permissions,
                ip_whitelist=key.ip_whitelist,
            )
        )

    def for_user(self, uid: str) -> list[StoredKey]:
        rows = self._conn.execute(
            sa.select(schema.api_keys)
            .where(schema.api_keys.c.uid == uid)
            .order_by(schema.api_keys.c.created_at)
        )
        return [stored_key_from_row(r) for r in rows]


def stored_key_from_row(row: Any) -> StoredKey:
    return StoredKey(
        row.key,
        row.uid,
        bytes(row.sealed),
        row.permissions,
        row.ip_whitelist,
        row.key_version,
        row.created_at,
        row.revoked_at,
        getattr(row, "vip_level", 0),
    )


class SqlUnitOfWork:
    """A write transaction (BEGIN IMMEDIATE on SQLite) over one connection."""

    def __init__(
        self,
        engine: Engine,
        on_commit: Callable[[int], None] | None = None,
        *,
        positions: WalPositions | None = None,
    ) -> None:
        """`on_commit`: told how many operations each commit wrote, if any.
        `positions` (with read replicas): where each commit's WAL position is
        recorded for the users whose accounts it wrote (read-your-writes)."""
        self._engine = engine
        self._dialect = dialect_for(engine.dialect.name)
        self._on_commit = on_commit
        self._positions = positions

    def __enter__(self) -> SqlUnitOfWork:
        self._conn = self._engine.connect()
        self._tx = self._conn.begin()
        self.ledger = SqlLedgerStore(self._conn, self._dialect)
        self.users = SqlUserStore(self._conn, self._dialect)
        self.keys = SqlKeyStore(self._conn)
        self.subaccounts = SqlSubAccountStore(self._conn)
        self.funding = SqlFundingStore(self._conn, self._dialect)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self._conn.close()

    def commit(self) -> None:
        self._tx.commit()
        if self.keys.changed or self.users.changed:
            # This process's key caches at once; the other processes' (and
            # this one's again) by the triggers' NOTIFY (storage/key_notify.py).
            changed_here(self.keys.changed, self.users.changed)
        if self._positions is not None and self.ledger.written_uids:
            self._record_position(self._positions, self.ledger.written_uids)
        if self._on_commit is not None and self.ledger.saved_operations:
            self._on_commit(self.ledger.saved_operations)

    def _record_position(self, positions: WalPositions, uids: set[str]) -> None:
        """After the commit: its WAL position, for replicas to be judged by.
        If the primary cannot tell (it went away just after the commit),
        the users read from the primary until the position expires."""
        try:
            position = commit_position(self._conn.connection.dbapi_connection)
        except Exception as exc:  # the write is committed: do not fail it
            log.warning("cannot read the commit's WAL position: %s", exc)
            position = UNKNOWN
        positions.record(uids, position)
