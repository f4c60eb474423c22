"""The web explorer's reads (services/explorer.py): each one a seek on an
index of `entries` or `accounts`, through the read side's connections.

(account_id, seq) is `ux_entries_account_seq`, (account_id, created_at, seq)
`ix_entries_account_time`; on PostgreSQL both lead every monthly partition's
index, so each query is an index probe per partition and never a scan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

from kuledger.domain.accounts import Account
from kuledger.services.explorer import CheckpointRow, EntryFilter, EntryView
from kuledger.storage.connections import ReadConnections
from kuledger.storage.dialect import dialect_for
from kuledger.storage.reader import select_list
from kuledger.storage.sql import _ACCOUNT_COLUMNS, account_from_row

IN_CHUNK = 500  # ids per IN (...): well under every driver's parameter limit
_CHECKPOINT_COLUMNS = "account_id, uid, type, currency, seq, verified_at"


class SqlExplorerQueries:
    def __init__(self, engine: Engine, connections: ReadConnections) -> None:
        self._db = connections
        self._d = d = dialect_for(engine.dialect.name)
        self._ph = d.ph
        self._columns = select_list(d, EntryView._fields)

    def account(self, account_id: str) -> Account | None:
        rows = self._db.rows(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = {self._ph}",
            (account_id,),
        )
        return account_from_row(rows[0]) if rows else None

    def _seq(self, account_id: str, op: str, at: int, order: str) -> int | None:
        rows = self._db.rows(
            f"SELECT seq FROM entries WHERE account_id = {self._ph} "
            f"AND created_at {op} {self._ph} "
            f"ORDER BY created_at {order}, seq {order} LIMIT 1",
            (account_id, at),
        )
        return int(rows[0][0]) if rows else None

    def first_seq_at_or_after(self, account_id: str, at: int) -> int | None:
        return self._seq(account_id, ">=", at, "ASC")

    def last_seq_at_or_before(self, account_id: str, at: int) -> int | None:
        return self._seq(account_id, "<=", at, "DESC")

    def entry_window(
        self,
        account_id: str,
        seq_range: tuple[int, int],
        newest_first: bool,
        filters: EntryFilter,
        limit: int,
    ) -> list[EntryView]:
        ph = self._ph
        where = f"account_id = {ph} AND seq >= {ph} AND seq <= {ph}"
        params: list[Any] = [account_id, *seq_range]
        if filters.biz_codes:
            where += (
                f" AND biz_code IN ({self._d.placeholders(len(filters.biz_codes))})"
            )
            params.extend(filters.biz_codes)
        if filters.direction is not None:
            where += f" AND direction = {ph}"
            params.append(filters.direction)
        order = "DESC" if newest_first else "ASC"
        rows = self._db.rows(
            f"SELECT {self._columns} FROM entries WHERE {where} "
            f"ORDER BY seq {order} LIMIT {ph}",
            (*params, limit),
        )
        return [EntryView._make(r) for r in rows]

    def _in_chunks(
        self, sql: str, head: tuple[Any, ...], values: Sequence[Any]
    ) -> list[Any]:
        """`sql` (with {ids} for the IN list) run per chunk of `values`."""
        found: list[Any] = []
        for i in range(0, len(values), IN_CHUNK):
            chunk = values[i : i + IN_CHUNK]
            ids = self._d.placeholders(len(chunk))
            found.extend(self._db.rows(sql.format(ids=ids), (*head, *chunk)))
        return found

    def entries_at(self, account_id: str, seqs: Sequence[int]) -> list[EntryView]:
        rows = self._in_chunks(
            f"SELECT {self._columns} FROM entries WHERE account_id = {self._ph} "
            "AND seq IN ({ids}) ORDER BY seq",
            (account_id,),
            list(seqs),
        )
        return [EntryView._make(r) for r in rows]

    def entries_by_id(self, ids: Sequence[int], created_at: int) -> list[EntryView]:
        # created_at too: on PostgreSQL it picks the one partition to look in.
        rows = self._in_chunks(
            f"SELECT {self._columns} FROM entries WHERE created_at = {self._ph} "
            "AND id IN ({ids}) ORDER BY id",
            (created_at,),
            list(ids),
        )
        return [EntryView._make(r) for r in rows]

    def balance_points(
        self, account_id: str, seq_range: tuple[int, int]
    ) -> list[tuple[int, str]]:
        ph = self._ph
        rows = self._db.rows(
            f"SELECT created_at, {self._d.text_of('balance')} FROM entries "
            f"WHERE account_id = {ph} AND seq >= {ph} AND seq <= {ph} ORDER BY seq",
            (account_id, *seq_range),
        )
        return [(int(t), b) for t, b in rows]

    def balance_points_at(
        self, account_id: str, seqs: Sequence[int]
    ) -> list[tuple[int, str]]:
        rows = self._in_chunks(
            f"SELECT created_at, {self._d.text_of('balance')}, seq FROM entries "
            f"WHERE account_id = {self._ph} AND seq IN ({{ids}})",
            (account_id,),
            list(seqs),
        )
        rows.sort(key=lambda r: r[2])
        return [(int(t), b) for t, b, _ in rows]

    def checkpoints(self, after: str | None, limit: int) -> list[CheckpointRow]:
        where, params = (
            (f"WHERE account_id > {self._ph} ", (after,)) if after else ("", ())
        )
        rows = self._db.rows(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM verify_checkpoints {where}"
            f"ORDER BY account_id LIMIT {int(limit)}",
            params,
        )
        return [CheckpointRow._make(r) for r in rows]

    def checkpoints_of(self, uid: str) -> dict[str, CheckpointRow]:
        rows = self._db.rows(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM verify_checkpoints "
            f"WHERE account_id IN (SELECT id FROM accounts WHERE uid = {self._ph})",
            (uid,),
        )
        return {r[0]: CheckpointRow._make(r) for r in rows}

    def last_verify_run(self) -> tuple[int, str] | None:
        rows = self._db.rows(
            "SELECT verified_at, root FROM verify_runs ORDER BY id DESC LIMIT 1"
        )
        return (int(rows[0][0]), rows[0][1]) if rows else None
