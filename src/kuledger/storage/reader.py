"""The read side: ledger pages, accounts, keys. Ledger rows go out as the
named rows of services.ports, not as objects: they are built here only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuledger.domain.accounts import Account, AccountType, Book
from kuledger.domain.entries import Direction, Entry
from kuledger.domain.money import Currency
from kuledger.domain.users import User
from kuledger.services.ports import (
    ContractFilter,
    ContractRow,
    CountedPage,
    LedgerFilter,
    LedgerRow,
    Seek,
    StoredKey,
    StoredOperation,
    TrailRow,
)
from kuledger.services.verify import Checkpoint, VerifyRun
from kuledger.storage import schema
from kuledger.storage.connections import ReadConnections, Row
from kuledger.storage.dialect import SqlDialect, dialect_for
from kuledger.storage.replicas import ReadRouter
from kuledger.storage.sql import _ACCOUNT_COLUMNS, account_from_row

CATALOGUE_TTL_S = 5.0
_MONEY_COLUMNS = frozenset(("amount", "fee", "balance"))


def select_list(d: SqlDialect, fields: tuple[str, ...], table: str = "") -> str:
    """The columns of `entries` that make a named row, in its field order:
    the row's field names are the column names, money read as text."""
    prefix = f"{table}." if table else ""
    return ", ".join(
        d.text_of(prefix + f) if f in _MONEY_COLUMNS else prefix + f for f in fields
    )


ledger_row = LedgerRow._make  # rows of select_list(d, LedgerRow._fields)
contract_row = ContractRow._make  # ... of ContractRow._fields


# The trail's columns of `entries`: every TrailRow field but `operation`,
# which is read from the operation record the entry names (OPERATION_COLUMNS).
TRAIL_ENTRY_FIELDS = TrailRow._fields[:-1]
_OPERATION_COLUMNS = "o.fingerprint, o.result, o.created_at"


def trail_row(r: Row) -> TrailRow:
    """A TrailRow from select_list(d, TRAIL_ENTRY_FIELDS) and the fingerprint,
    result and created_at of the entry's operation record (NULLs: none)."""
    operation = (
        None if r[17] is None else StoredOperation(r[15], r[16], r[17], r[18], r[19])
    )
    return TrailRow(
        r[0], r[1], Decimal(r[2]), r[3], Decimal(r[4]), r[5], r[6], r[7], r[8],
        Decimal(r[9]), r[10], r[11], r[12], r[13], r[14], r[15], r[16], operation,
    )  # fmt: skip


class SqlLedgerReader:
    def __init__(
        self,
        engine: Engine,
        read_engine: Engine | None = None,
        *,
        connections: ReadConnections | None = None,
        router: ReadRouter | None = None,
    ) -> None:
        """`router`: read users' ledgers and accounts on replicas."""
        self._engine = engine
        self._db = connections or ReadConnections(engine, read_engine, router=router)
        self._d = d = dialect_for(engine.dialect.name)
        self._ledger_columns = select_list(d, LedgerRow._fields)
        self._contract_columns = select_list(d, ContractRow._fields)
        self._currencies: tuple[dict[str, Currency] | None, float] = (None, 0.0)

    @property
    def connections(self) -> ReadConnections:
        """The read side's connections, for other read-only stores to share."""
        return self._db

    def close(self) -> None:
        """Close the read side's own connections (the write engine is not ours)."""
        self._db.close()

    def _row(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        rows = self._db.rows(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def snapshot(self) -> Iterator[SqlLedgerReader]:
        """A reader whose queries all see one consistent state of the database
        (one read transaction; REPEATABLE READ on PostgreSQL), e.g. for verify
        on a live database."""
        with self._db.snapshot() as pinned:
            yield SqlLedgerReader(self._engine, connections=pinned)

    def currencies(self) -> dict[str, Currency]:
        """The catalogue, re-read at most every few seconds: it rarely changes
        and every ledger request consults it."""
        cached, read_at = self._currencies
        now = time.monotonic()
        if cached is None or now - read_at > CATALOGUE_TTL_S:
            rows = self._db.rows("SELECT code, precision, name FROM currencies")
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
        return [
            account_from_row(r) for r in self._db.user_rows(uid, sql, tuple(params))
        ]

    def account(self, uid: str, account_id: str) -> Account | None:
        ph = self._d.ph
        rows = self._db.user_rows(
            uid,
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = {ph} AND uid = {ph}",
            (account_id, uid),
        )
        return account_from_row(rows[0]) if rows else None

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

    def count_operations(self, uid_prefix: str) -> int:
        """How many operations users whose uid starts with `uid_prefix` applied."""
        ph = self._d.ph
        row = self._row(
            f"SELECT COUNT(*) FROM operations WHERE substr(uid, 1, {ph}) = {ph}",
            (len(uid_prefix), uid_prefix),
        )
        return int(row[0]) if row else 0

    def entry_rows_statement(
        self, query: LedgerFilter, seek: Seek, limit: int
    ) -> tuple[str, tuple[Any, ...]]:
        """The SQL and parameters of counted_entry_rows' page (EXPLAIN uses them)."""
        after = seek.after
        if after is not None:
            # The seek position becomes the window's only upper bound: given two
            # (`<= end` and `<= position`) SQLite may start its index range at
            # the window's end and walk every row above the position.
            query = replace(query, end_at=min(query.end_at, after[0]))
        where, params = self._where(query)
        ph = self._d.ph
        if after is not None:
            # Spelled out (not a row value) so SQLite keeps using the index.
            where += f" AND (created_at < {ph} OR id < {ph})"
            params.extend((after[0], after[1]))
        sql = (
            f"SELECT {self._ledger_columns} FROM entries WHERE {where} "
            f"ORDER BY created_at DESC, id DESC LIMIT {ph} OFFSET {ph}"
        )
        return sql, (*params, limit, seek.offset)

    def counted_entry_rows(
        self,
        query: LedgerFilter,
        seek: Seek,
        limit: int,
        counted_at: int | None,
    ) -> CountedPage:
        """The marker, the window's total and a page, in one statement. The
        total is a subquery the server runs only when the marker is not
        `counted_at` (a CASE, evaluated once, on the marker's one row): one
        round trip whether or not a cached total is still good, where a page
        then a count were two on PostgreSQL (and each statement is a round
        trip there)."""
        page, params = self.entry_rows_statement(query, seek, limit)
        ph = self._d.ph
        where, window = self._where(query)
        total = (
            f"CASE WHEN marker = {ph} THEN NULL "
            f"ELSE (SELECT COUNT(*) FROM entries WHERE {where}) END"
        )
        count_params = (-1 if counted_at is None else counted_at, *window)
        rows = self._db.user_rows(
            query.uid,
            f"SELECT m.marker, m.total, p.* FROM (SELECT marker, {total} AS total "
            "FROM (SELECT COALESCE(SUM(seq), 0) AS marker FROM accounts "
            f"WHERE uid = {ph}) s) m LEFT JOIN ({page}) p "
            "ON 1 = 1 ORDER BY p.created_at DESC, p.id DESC",
            (*count_params, query.uid, *params),
        )
        marker, counted = int(rows[0][0]), rows[0][1]
        total_ = None if counted is None else int(counted)
        if rows[0][2] is None:  # no entries on the page: the marker and NULLs
            return CountedPage(marker, total_, [])
        return CountedPage(marker, total_, [ledger_row(row[2:]) for row in rows])

    def entry_rows_before(
        self, query: LedgerFilter, last_id: int | None, limit: int
    ) -> list[LedgerRow]:
        """Like counted_entry_rows' page, but a keyset page: entries that sort
        after `last_id` in (createdAt, id) descending order, i.e. older than it."""
        where, params = self._where(query)
        ph = self._d.ph
        if last_id is not None:
            # Bounded by the window so PostgreSQL probes only its partitions.
            anchors = self._db.user_rows(
                query.uid,
                f"SELECT created_at FROM entries WHERE id = {ph} AND uid = {ph} "
                f"AND created_at >= {ph} AND created_at <= {ph}",
                (last_id, query.uid, query.start_at, query.end_at),
            )
            anchor = anchors[0] if anchors else None
            if anchor is None:
                where += f" AND id < {ph}"
                params.append(last_id)
            else:
                # Spelled out (not a row value) so SQLite keeps using the index.
                where += f" AND created_at <= {ph} AND (created_at < {ph} OR id < {ph})"
                params.extend((anchor[0], anchor[0], last_id))
        sql = (
            f"SELECT {self._ledger_columns} FROM entries WHERE {where} "
            f"ORDER BY created_at DESC, id DESC LIMIT {ph}"
        )
        rows = self._db.user_rows(query.uid, sql, (*params, limit))
        return [ledger_row(row) for row in rows]

    def contract_rows(self, query: ContractFilter, limit: int) -> list[ContractRow]:
        """Contract-account entries (every book), by id."""
        ph = self._d.ph
        where = f"uid = {ph} AND account_type = 'contract'"
        params: list[Any] = [query.uid]
        for clause, value in (
            ("currency = {ph}", query.currency),
            ("direction = {ph}", query.direction),
            ("created_at >= {ph}", query.start_at),
            ("created_at <= {ph}", query.end_at),
            ("id < {ph}" if query.forward else "id > {ph}", query.offset),
        ):
            if value is not None:
                where += " AND " + clause.format(ph=ph)
                params.append(value)
        if query.biz_codes:
            where += f" AND biz_code IN ({self._d.placeholders(len(query.biz_codes))})"
            params.extend(query.biz_codes)
        order = "DESC" if query.forward else "ASC"
        sql = (
            f"SELECT {self._contract_columns} FROM entries WHERE {where} "
            f"ORDER BY id {order} LIMIT {ph}"
        )
        rows = self._db.user_rows(query.uid, sql, (*params, limit))
        return [contract_row(row) for row in rows]

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
        for r in self._db.stream(query):
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
        sql = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY id"
        for row in self._db.stream(sql):
            yield account_from_row(row)

    def entry_trail(self, since: bool = False) -> Iterator[TrailRow]:
        """Every entry, ordered by account and sequence, with the operation
        record it names: what `verify` replays.

        With `since`, only the entries after each account's verify checkpoint
        (all of an account that has none)."""
        columns = select_list(self._d, TRAIL_ENTRY_FIELDS, "e")
        sql = (
            f"SELECT {columns}, {_OPERATION_COLUMNS} FROM entries e "
            "LEFT JOIN operations o ON o.uid = e.op_uid AND o.op_id = e.op_id"
        )
        if since:
            sql += (
                " LEFT JOIN verify_checkpoints c ON c.account_id = e.account_id "
                "WHERE c.seq IS NULL OR e.seq > c.seq"
            )
        sql += " ORDER BY e.account_id, e.seq"
        for row in self._db.stream(sql, batch=10_000):
            yield trail_row(row)

    def operation_records(self) -> Iterator[StoredOperation]:
        """Every operation (idempotency) record, for verify's own checks."""
        sql = "SELECT uid, op_id, fingerprint, result, created_at FROM operations"
        for row in self._db.stream(sql, batch=10_000):
            yield StoredOperation(*row)

    def missing_operation_entries(self) -> Iterator[tuple[str, str, int, int]]:
        """(uid, op_id, created_at, entry id) of each entry an operation record's
        result lists that is not in `entries` (at the record's time). A result
        that is not the JSON the write path stores lists nothing here (verify
        reports it on its own)."""
        if self._d.name == "postgresql":
            # A regex, not ::jsonb: an edited result must not stop verify.
            ids = r'"entry_ids":\[((?:[0-9]{1,18},)*[0-9]{1,18})\]'
            listed = (
                "CROSS JOIN LATERAL unnest(string_to_array("
                f"(regexp_match(o.result, '{ids}'))[1], ',')) AS x(id)"
            )
            entry_id = "x.id::bigint"
        else:
            listed = (
                ", json_each(CASE WHEN json_valid(o.result) THEN o.result "
                "ELSE '{}' END, '$.entry_ids') AS x"
            )
            entry_id = "x.value"
        sql = (
            f"SELECT o.uid, o.op_id, o.created_at, {entry_id} FROM operations o "
            f"{listed} WHERE NOT EXISTS (SELECT 1 FROM entries e "
            f"WHERE e.id = {entry_id} AND e.created_at = o.created_at)"
        )
        if self._d.name == "sqlite":
            sql += " AND x.type = 'integer'"
        for row in self._db.stream(sql, batch=10_000):
            yield row[0], row[1], int(row[2]), int(row[3])

    def verify_checkpoints(self) -> dict[str, Checkpoint]:
        """What the last successful `kuledger verify` saw of each account."""
        t = self._d.text_of
        rows = self._db.rows(
            f"SELECT account_id, seq, hash, {t('balance')}, uid, type, currency "
            "FROM verify_checkpoints"
        )
        return {
            r[0]: Checkpoint(r[0], r[1], r[2], Decimal(r[3]), r[4], r[5], r[6])
            for r in rows
        }

    def last_verify_run(self) -> VerifyRun | None:
        """The newest clean `kuledger verify`: when, and its checkpoints' root."""
        row = self._row(
            "SELECT verified_at, root FROM verify_runs ORDER BY id DESC LIMIT 1"
        )
        return None if row is None else VerifyRun(row[0], row[1])
