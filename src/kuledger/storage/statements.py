"""The month statement's read: one account's entries in a time range, a
range seek in ix_entries_account_time (account_id, created_at, seq)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from sqlalchemy.engine import Engine

from kuledger.domain.entries import Direction
from kuledger.services.statements import MonthEntry
from kuledger.storage.connections import ReadConnections
from kuledger.storage.dialect import dialect_for
from kuledger.storage.reader import select_list


class SqlStatementEntries:
    def __init__(self, engine: Engine, connections: ReadConnections) -> None:
        self._db = connections
        self._d = d = dialect_for(engine.dialect.name)
        self._columns = select_list(d, MonthEntry._fields)

    def month_entries(
        self, account_id: str, since: int, until: int
    ) -> Iterator[MonthEntry]:
        ph = self._d.ph
        rows = self._db.stream(
            f"SELECT {self._columns} FROM entries WHERE account_id = {ph} "
            f"AND created_at >= {ph} AND created_at <= {ph} "
            "ORDER BY created_at, seq",
            (account_id, since, until),
            batch=5000,
        )
        for biz_code, direction, amount, fee, balance, seq in rows:
            yield MonthEntry(
                biz_code,
                Direction(direction),
                Decimal(amount),
                Decimal(fee),
                Decimal(balance),
                seq,
            )
