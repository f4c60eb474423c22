"""The read side: ledger pages, accounts, keys. Rows go out as tuples, not objects."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuledger.domain.accounts import Account, AccountType, Book
from kuledger.domain.entries import Direction, Entry
from kuledger.domain.money import Currency
from kuledger.domain.users import User
from kuledger.services.ports import LedgerFilter, StoredKey
from kuledger.storage import schema
from kuledger.storage.dialect import dialect_for
from kuledger.storage.engines import READ_ONLY
from kuledger.storage.sql import _ACCOUNT_COLUMNS, account_from_row, stored_key_from_row


class SqlLedgerReader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._d = dialect_for(engine.dialect.name)

    def _connect(self) -> sa.Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    def currencies(self) -> dict[str, Currency]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(schema.currencies)).all()
        return {r.code: Currency(r.code, r.precision, r.name) for r in rows}

    def user(self, uid: str) -> User | None:
        with self._connect() as conn:
            r = conn.execute(
                sa.select(schema.users).where(schema.users.c.uid == uid)
            ).first()
        if r is None:
            return None
        return User(r.uid, r.parent_uid, r.vip_level, bool(r.hf), r.created_at)

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
        with self._connect() as conn:
            return [
                account_from_row(r) for r in conn.exec_driver_sql(sql, tuple(params))
            ]

    def account(self, uid: str, account_id: str) -> Account | None:
        ph = self._d.ph
        with self._connect() as conn:
            row = conn.exec_driver_sql(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts "
                f"WHERE id = {ph} AND uid = {ph}",
                (account_id, uid),
            ).first()
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
        with self._connect() as conn:
            count = conn.exec_driver_sql(
                f"SELECT COUNT(*) FROM entries WHERE {where}", tuple(params)
            ).scalar_one()
        return int(count)

    def change_marker(self, uid: str) -> int:
        """A number that moves whenever any of the user's accounts gets an entry."""
        with self._connect() as conn:
            value = conn.exec_driver_sql(
                f"SELECT COALESCE(SUM(seq), 0) FROM accounts WHERE uid = {self._d.ph}",
                (uid,),
            ).scalar_one()
        return int(value)

    def entry_rows(
        self,
        query: LedgerFilter,
        offset: int,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[tuple[Any, ...]]:
        where, params = self._where(query)
        t = self._d.text_of
        ph = self._d.ph
        if after is not None:
            # Spelled out (not a row value) so SQLite keeps using the index.
            where += f" AND created_at <= {ph} AND (created_at < {ph} OR id < {ph})"
            params.extend((after[0], after[0], after[1]))
        sql = (
            f"SELECT id, currency, {t('amount')}, {t('fee')}, {t('balance')}, "
            f"account_type, biz_code, direction, created_at, context FROM entries "
            f"WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {ph} OFFSET {ph}"
        )
        with self._connect() as conn:
            rows = conn.exec_driver_sql(sql, (*params, limit, offset)).all()
        return [tuple(r) for r in rows]

    def entry_rows_before(
        self, query: LedgerFilter, last_id: int | None, limit: int
    ) -> list[tuple[Any, ...]]:
        """Like entry_rows, but a keyset page: entries that sort after `last_id`
        in (createdAt, id) descending order, i.e. older than it."""
        where, params = self._where(query)
        ph, t = self._d.ph, self._d.text_of
        if last_id is not None:
            with self._connect() as conn:
                anchor = conn.exec_driver_sql(
                    f"SELECT created_at FROM entries WHERE id = {ph} AND uid = {ph}",
                    (last_id, query.uid),
                ).first()
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
        with self._connect() as conn:
            rows = conn.exec_driver_sql(sql, (*params, limit)).all()
        return [tuple(r) for r in rows]

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
        with self._connect() as conn:
            rows = conn.exec_driver_sql(sql, (*params, limit)).all()
        return [tuple(r) for r in rows]

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
        keys, users = schema.api_keys, schema.users
        query = (
            sa.select(keys, users.c.vip_level)
            .join(users, users.c.uid == keys.c.uid)
            .where(keys.c.key == key)
        )
        with self._connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else stored_key_from_row(row)

    def all_accounts(self) -> Iterator[Account]:
        with self._connect() as conn:
            for row in conn.execution_options(stream_results=True).exec_driver_sql(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY id"
            ):
                yield account_from_row(row)

    def entry_trail(self) -> Iterator[tuple[str, int, Decimal, str, Decimal, int]]:
        """(account_id, seq, amount, direction, balance, id) for every entry,
        ordered by account and sequence: what `verify` replays."""
        t = self._d.text_of
        with self._connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=10_000)
            for row in rows.exec_driver_sql(
                f"SELECT account_id, seq, {t('amount')}, direction, {t('balance')}, id "
                "FROM entries ORDER BY account_id, seq"
            ):
                yield (row[0], row[1], Decimal(row[2]), row[3], Decimal(row[4]), row[5])
