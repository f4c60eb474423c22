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

    def entry_rows(
        self, query: LedgerFilter, offset: int, limit: int
    ) -> list[tuple[Any, ...]]:
        where, params = self._where(query)
        t = self._d.text_of
        ph = self._d.ph
        sql = (
            f"SELECT id, currency, {t('amount')}, {t('fee')}, {t('balance')}, "
            f"account_type, biz_code, direction, created_at, context FROM entries "
            f"WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {ph} OFFSET {ph}"
        )
        with self._connect() as conn:
            rows = conn.exec_driver_sql(sql, (*params, limit, offset)).all()
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
