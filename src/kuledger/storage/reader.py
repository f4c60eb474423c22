"""The read side: ledger pages, accounts, keys. Rows go out as tuples, not objects."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool, SingletonThreadPool

from kuledger.domain.accounts import Account, AccountType, Book
from kuledger.domain.entries import Direction, Entry
from kuledger.domain.money import Currency
from kuledger.domain.users import User
from kuledger.services.ports import LedgerFilter, StoredKey
from kuledger.services.verify import Checkpoint
from kuledger.storage import schema
from kuledger.storage.dialect import dialect_for
from kuledger.storage.engines import READ_ONLY
from kuledger.storage.sql import _ACCOUNT_COLUMNS, account_from_row

CATALOGUE_TTL_S = 5.0


class SqlLedgerReader:
    def __init__(self, engine: Engine, read_engine: Engine | None = None) -> None:
        self._engine = engine  # transactions: snapshot()
        self._read_engine = read_engine or engine  # everything else
        self._d = dialect_for(engine.dialect.name)
        self._pinned: sa.Connection | None = None
        self._currencies: tuple[dict[str, Currency] | None, float] = (None, 0.0)
        # SQLite's read engine keeps one connection per thread: remember it
        # per thread and skip the pool's checkout and checkin on every query.
        self._per_thread = isinstance(self._read_engine.pool, SingletonThreadPool)
        self._local = threading.local()

    def close(self) -> None:
        """Close the read side's own connections (the write engine is not ours)."""
        if self._read_engine is not self._engine:
            self._read_engine.dispose()

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        if self._pinned is not None:  # inside snapshot(): keep its transaction
            return nullcontext(self._pinned)
        # Streaming reads: on PostgreSQL a server-side cursor needs a
        # transaction, which the read side's autocommit pool does not open.
        engine = self._engine if self._d.name == "postgresql" else self._read_engine
        return engine.connect().execution_options(**{READ_ONLY: True})

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run driver SQL on the read side's connection; rows as tuples. The hot
        path skips SQLAlchemy's Connection and Result objects: per request they
        cost more than SQLite's query itself."""
        if self._pinned is not None:
            return [tuple(r) for r in self._pinned.exec_driver_sql(sql, params)]
        if self._per_thread:
            return self._thread_rows(sql, params)
        return self._pooled_rows(sql, params)

    def _pooled_rows(
        self, sql: str, params: tuple[Any, ...], *, retry: bool = True
    ) -> list[tuple[Any, ...]]:
        """_rows on a pooled connection (PostgreSQL). The pool does not ping a
        connection before lending it (a round trip per query): a read that finds
        its connection dropped (a server restart, an idle timeout) drops the
        whole pool, whose other connections are as dead, and runs once more."""
        engine = self._read_engine
        dbapi = engine.dialect.loaded_dbapi
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql, params)
            rows = [tuple(r) for r in cursor.fetchall()]
            cursor.close()
            return rows
        except dbapi.Error as exc:  # the same exception types as SQLAlchemy's
            if not (
                retry and engine.dialect.is_disconnect(exc, raw.dbapi_connection, None)
            ):
                raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
            raw.invalidate(exc)
        finally:
            raw.close()
        engine.dispose()
        return self._pooled_rows(sql, params, retry=False)

    def _thread_rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """_rows on this thread's own SQLite connection, without the pool's
        checkout and checkin around every query (under load they cost more
        than the query). The connection stays the pool's: it is taken again
        after the pool was replaced (dispose) or closed it."""
        dbapi = self._read_engine.dialect.loaded_dbapi
        connection = self._thread_connection()
        try:
            try:
                rows = connection.execute(sql, params).fetchall()
            except dbapi.ProgrammingError as exc:
                if "closed" not in str(exc):
                    raise
                connection = self._thread_connection(stale=connection)
                rows = connection.execute(sql, params).fetchall()
        except dbapi.Error as exc:  # the same exception types as SQLAlchemy's path
            raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
        return rows  # type: ignore[no-any-return]

    def _thread_connection(self, stale: Any = None) -> Any:
        pool = self._read_engine.pool
        held: tuple[Pool, Any] | None = getattr(self._local, "held", None)
        if held is None or held[0] is not pool or held[1] is stale:
            raw = self._read_engine.raw_connection()
            if stale is not None and raw.dbapi_connection is stale:
                raw.invalidate()  # closed behind the pool's back: reconnect
                raw = self._read_engine.raw_connection()
            held = (pool, raw.dbapi_connection)
            raw.close()  # checked in: the pool keeps it open for this thread
            self._local.held = held
        return held[1]

    def _row(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def snapshot(self) -> Iterator[SqlLedgerReader]:
        """A reader whose queries all see one consistent state of the database
        (one read transaction; REPEATABLE READ on PostgreSQL), e.g. for verify
        on a live database."""
        options: dict[str, Any] = {READ_ONLY: True}
        if self._d.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            pinned = SqlLedgerReader(self._engine, self._read_engine)
            pinned._pinned = conn
            yield pinned

    def currencies(self) -> dict[str, Currency]:
        """The catalogue, re-read at most every few seconds: it rarely changes
        and every ledger request consults it."""
        cached, read_at = self._currencies
        now = time.monotonic()
        if cached is None or now - read_at > CATALOGUE_TTL_S:
            rows = self._rows("SELECT code, precision, name FROM currencies")
            cached = {
                code: Currency(code, precision, name) for code, precision, name in rows
            }
            self._currencies = (cached, now)
        return cached

    def user(self, uid: str) -> User | None:
        r = self._row(
            "SELECT uid, parent_uid, vip_level, hf, created_at FROM users "
            f"WHERE uid = {self._d.ph}",
            (uid,),
        )
        return None if r is None else User(r[0], r[1], r[2], bool(r[3]), r[4])

    def accounts(
        self, uid: str, currency: str | None = None, type_: AccountType | None = None
    ) -> list[Account]:
        ph = self._d.ph
        sql = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE uid = {ph}"
        params: list[Any] = [uid]
        if currency is not None:
            sql += f" AND currency = {ph}"
            params.append(currency)
        if type_ is not None:
            sql += f" AND type = {ph}"
            params.append(type_.value)
        sql += " ORDER BY type, currency"
        return [account_from_row(r) for r in self._rows(sql, tuple(params))]

    def account(self, uid: str, account_id: str) -> Account | None:
        ph = self._d.ph
        row = self._row(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = {ph} AND uid = {ph}",
            (account_id, uid),
        )
        return None if row is None else account_from_row(row)

    def _where(self, q: LedgerFilter) -> tuple[str, list[Any]]:
        ph = self._d.ph
        sql = (
            f"uid = {ph} AND book = {ph} AND created_at >= {ph} AND created_at <= {ph}"
        )
        params: list[Any] = [q.uid, q.book.value, q.start_at, q.end_at]
        for column, values in (
            ("currency", q.currencies),
            ("biz_code", q.biz_codes),
            ("account_type", tuple(t.value for t in q.account_types)),
        ):
            if values:
                sql += f" AND {column} IN ({self._d.placeholders(len(values))})"
                params.extend(values)
        if q.direction is not None:
            sql += f" AND direction = {ph}"
            params.append(q.direction)
        return sql, params

    def count_entries(self, query: LedgerFilter) -> int:
        where, params = self._where(query)
        row = self._row(f"SELECT COUNT(*) FROM entries WHERE {where}", tuple(params))
        return int(row[0]) if row else 0

    def count_operations(self, uid_prefix: str) -> int:
        """How many operations users whose uid starts with `uid_prefix` applied."""
        ph = self._d.ph
        row = self._row(
            f"SELECT COUNT(*) FROM operations WHERE substr(uid, 1, {ph}) = {ph}",
            (len(uid_prefix), uid_prefix),
        )
        return int(row[0]) if row else 0

    def entry_rows_statement(
        self,
        query: LedgerFilter,
        offset: int,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> tuple[str, tuple[Any, ...]]:
        """The SQL and parameters of a page of marked_entry_rows (EXPLAIN uses them)."""
        if after is not None:
            # The seek position becomes the window's only upper bound: given two
            # (`<= end` and `<= position`) SQLite may start its index range at
            # the window's end and walk every row above the position.
            query = replace(query, end_at=min(query.end_at, after[0]))
        where, params = self._where(query)
        t = self._d.text_of
        ph = self._d.ph
        if after is not None:
            # Spelled out (not a row value) so SQLite keeps using the index.
            where += f" AND (created_at < {ph} OR id < {ph})"
            params.extend((after[0], after[1]))
        sql = (
            f"SELECT id, currency, {t('amount')}, {t('fee')}, {t('balance')}, "
            f"account_type, biz_code, direction, created_at, context FROM entries "
            f"WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {ph} OFFSET {ph}"
        )
        return sql, (*params, limit, offset)

    def marked_entry_rows(
        self,
        query: LedgerFilter,
        offset: int,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """A page of entries and the change marker (the sum of the user's
        accounts' seq) in one statement: on PostgreSQL each statement is a round trip,
        and they were a quarter of a ledger request's time."""
        page, params = self.entry_rows_statement(query, offset, limit, after)
        rows = self._rows(
            "SELECT m.marker, p.* FROM (SELECT COALESCE(SUM(seq), 0) AS marker "
            f"FROM accounts WHERE uid = {self._d.ph}) m LEFT JOIN ({page}) p "
            "ON 1 = 1 ORDER BY p.created_at DESC, p.id DESC",
            (query.uid, *params),
        )
        # No entries on the page: one row, the marker and NULLs.
        return int(rows[0][0]), [row[1:] for row in rows if row[1] is not None]

    def entry_rows_before(
        self, query: LedgerFilter, last_id: int | None, limit: int
    ) -> list[tuple[Any, ...]]:
        """Like marked_entry_rows' page, but a keyset page: entries that sort
        after `last_id` in (createdAt, id) descending order, i.e. older than it."""
        where, params = self._where(query)
        ph, t = self._d.ph, self._d.text_of
        if last_id is not None:
            # Bounded by the window so PostgreSQL probes only its partitions.
            anchor = self._row(
                f"SELECT created_at FROM entries WHERE id = {ph} AND uid = {ph} "
                f"AND created_at >= {ph} AND created_at <= {ph}",
                (last_id, query.uid, query.start_at, query.end_at),
            )
            if anchor is None:
                where += f" AND id < {ph}"
                params.append(last_id)
            else:
                # Spelled out (not a row value) so SQLite keeps using the index.
                where += f" AND created_at <= {ph} AND (created_at < {ph} OR id < {ph})"
                params.extend((anchor[0], anchor[0], last_id))
        sql = (
            f"SELECT id, currency, {t('amount')}, {t('fee')}, {t('balance')}, "
            f"account_type, biz_code, direction, created_at, context FROM entries "
            f"WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {ph}"
        )
        return self._rows(sql, (*params, limit))

    def contract_rows(
        self,
        uid: str,
        currency: str | None,
        biz_codes: tuple[str, ...],
        direction: str | None,
        start_at: int | None,
        end_at: int | None,
        offset: int | None,
        forward: bool,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """Contract-account entries (every book): (id, currency, amount, fee,
        balance, biz_code, direction, created_at, context), by id."""
        ph, t = self._d.ph, self._d.text_of
        where = f"uid = {ph} AND account_type = 'contract'"
        params: list[Any] = [uid]
        for clause, value in (
            ("currency = {ph}", currency),
            ("direction = {ph}", direction),
            ("created_at >= {ph}", start_at),
            ("created_at <= {ph}", end_at),
            ("id < {ph}" if forward else "id > {ph}", offset),
        ):
            if value is not None:
                where += " AND " + clause.format(ph=ph)
                params.append(value)
        if biz_codes:
            where += f" AND biz_code IN ({self._d.placeholders(len(biz_codes))})"
            params.extend(biz_codes)
        order = "DESC" if forward else "ASC"
        sql = (
            f"SELECT id, currency, {t('amount')}, {t('fee')}, {t('balance')}, "
            f"biz_code, direction, created_at, context FROM entries WHERE {where} "
            f"ORDER BY id {order} LIMIT {ph}"
        )
        return self._rows(sql, (*params, limit))

    def entries(
        self,
        uid: str,
        currency: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> Iterator[Entry]:
        """Every entry of a user (all books), newest first."""
        table = schema.entries
        query = sa.select(table).where(table.c.uid == uid)
        if currency is not None:
            query = query.where(table.c.currency == currency)
        if since is not None:
            query = query.where(table.c.created_at >= since)
        if until is not None:
            query = query.where(table.c.created_at <= until)
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._connect() as conn:
            for r in conn.execution_options(stream_results=True).execute(query):
                yield Entry(
                    r.id,
                    r.uid,
                    r.account_id,
                    AccountType(r.account_type),
                    r.currency,
                    r.amount,
                    r.fee,
                    r.balance,
                    Direction(r.direction),
                    r.biz_code,
                    r.created_at,
                    r.context,
                    r.seq,
                    Book(r.book),
                )

    def api_key(self, key: str) -> StoredKey | None:
        row = self._row(
            "SELECT k.key, k.uid, k.sealed, k.permissions, k.ip_whitelist, "
            "k.key_version, k.created_at, k.revoked_at, u.vip_level FROM api_keys k "
            f"JOIN users u ON u.uid = k.uid WHERE k.key = {self._d.ph}",
            (key,),
        )
        if row is None:
            return None
        key_, uid, sealed, permissions, ips, version, created, revoked, vip = row
        return StoredKey(
            key_, uid, bytes(sealed), permissions, ips, version, created, revoked, vip
        )

    def all_accounts(self) -> Iterator[Account]:
        with self._connect() as conn:
            for row in conn.execution_options(stream_results=True).exec_driver_sql(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY id"
            ):
                yield account_from_row(row)

    def entry_trail(self, since: bool = False) -> Iterator[tuple[Any, ...]]:
        """Every entry, ordered by account and sequence: what `verify` replays.
        (account_id, seq, amount, direction, balance, id, uid, account_type,
        currency, fee, biz_code, created_at, context, hash).

        With `since`, only the entries after each account's verify checkpoint
        (all of an account that has none)."""
        t = self._d.text_of
        columns = (
            f"e.account_id, e.seq, {t('e.amount')}, e.direction, {t('e.balance')}, "
            f"e.id, e.uid, e.account_type, e.currency, {t('e.fee')}, e.biz_code, "
            "e.created_at, e.context, e.hash"
        )
        if since:
            sql = (
                f"SELECT {columns} FROM entries e LEFT JOIN verify_checkpoints c "
                "ON c.account_id = e.account_id "
                "WHERE c.seq IS NULL OR e.seq > c.seq ORDER BY e.account_id, e.seq"
            )
        else:
            sql = f"SELECT {columns} FROM entries e ORDER BY e.account_id, e.seq"
        with self._connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=10_000)
            for row in rows.exec_driver_sql(sql):
                yield (
                    row[0],
                    row[1],
                    Decimal(row[2]),
                    row[3],
                    Decimal(row[4]),
                    row[5],
                    row[6],
                    row[7],
                    row[8],
                    Decimal(row[9]),
                    row[10],
                    row[11],
                    row[12],
                    row[13],
                )

    def verify_checkpoints(self) -> dict[str, Checkpoint]:
        """What the last successful `kuledger verify` saw of each account."""
        t = self._d.text_of
        with self._connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT account_id, seq, hash, {t('balance')} FROM verify_checkpoints"
            )
            return {r[0]: Checkpoint(r[0], r[1], r[2], Decimal(r[3])) for r in rows}
