"""SqlRetentionStore: services.ports.RetentionStore on SQLite and PostgreSQL.

Every method is its own short transaction (BEGIN IMMEDIATE on SQLite), so the
API keeps serving between batches. Entries are deleted in id order, which is
each account's seq order, so an account always loses its oldest entries first.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuledger.services.ports import DeletedBatch, Expired
from kuledger.storage.dialect import dialect_for
from kuledger.storage.engines import READ_ONLY
from kuledger.storage.partitions import (
    drop_partitions_before,
    lock_accounts,
    partitions_of,
)


class SqlRetentionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._d = dialect_for(engine.dialect.name)

    def expired(self, horizon: int) -> Expired:
        ph = self._d.ph
        with self._engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            entries, accounts, oldest = conn.exec_driver_sql(
                "SELECT count(*), count(DISTINCT account_id), min(created_at) "
                f"FROM entries WHERE created_at < {ph}",
                (horizon,),
            ).one()
            operations = conn.exec_driver_sql(
                f"SELECT count(*) FROM operations WHERE created_at < {ph}", (horizon,)
            ).scalar_one()
            months = tuple(
                (p.name, p.start)
                for p in partitions_of(conn)
                if p.start is not None and p.end is not None and p.end <= horizon
            )
        return Expired(entries, accounts, operations, oldest, months)

    def delete_entries(self, before: int, after_id: int, limit: int) -> DeletedBatch:
        ph, t = self._d.ph, self._d.text_of
        with self._engine.begin() as conn:
            last = conn.exec_driver_sql(
                f"SELECT max(id) FROM (SELECT id FROM entries WHERE id > {ph} "
                f"AND created_at < {ph} ORDER BY id LIMIT {ph}) batch",
                (after_id, before, limit),
            ).scalar()
            if last is None:
                return DeletedBatch(0, None)
            rows = conn.exec_driver_sql(
                f"DELETE FROM entries WHERE id > {ph} AND id <= {ph} "
                f"AND created_at < {ph} "
                f"RETURNING account_id, seq, {t('balance')}, hash",
                (after_id, last, before),
            ).all()
            self._move_bases(conn, rows)
        return DeletedBatch(len(rows), int(last))

    def _move_bases(self, conn: sa.Connection, rows: Sequence[Any]) -> None:
        """Set each account's base to its last deleted entry (seq, balance,
        hash): its kept entries' numbering, running sum and chain start there."""
        bases: dict[str, tuple[int, Decimal, str]] = {}
        for account_id, seq, balance, hash_ in rows:
            if account_id not in bases or seq > bases[account_id][0]:
                bases[account_id] = (seq, Decimal(balance), hash_)
        if not bases:
            return
        lock_accounts(conn, "SELECT unnest(%s::text[])", (sorted(bases),))
        ph, money = self._d.ph, self._d.money
        conn.exec_driver_sql(
            f"UPDATE accounts SET base_seq = {ph}, base_balance = {ph}, "
            f"base_hash = {ph} WHERE id = {ph} AND base_seq < {ph}",
            [
                (seq, money(balance), hash_, account_id, seq)
                for account_id, (seq, balance, hash_) in bases.items()
            ],
        )

    def drop_partitions(self, horizon: int) -> list[tuple[str, int]]:
        return drop_partitions_before(self._engine, horizon)

    def delete_operations(self, before: int, limit: int) -> int:
        ph = self._d.ph
        with self._engine.begin() as conn:
            result = conn.exec_driver_sql(
                "DELETE FROM operations WHERE (uid, op_id) IN (SELECT uid, op_id "
                f"FROM operations WHERE created_at < {ph} "
                f"ORDER BY created_at LIMIT {ph})",
                (before, limit),
            )
            return int(result.rowcount)
