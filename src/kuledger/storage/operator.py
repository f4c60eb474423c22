"""The operator API's storage: its tokens, and the reads only it makes.

Reads go through the read side's connections (storage/connections.py), so a
request's token check and queries never take SQLite's write lock; a token is
written in a short transaction of its own."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuledger.domain.accounts import Account
from kuledger.domain.users import User
from kuledger.services.operator import EntryRow, VerifyStatus
from kuledger.services.operator_tokens import OperatorToken, Scope
from kuledger.services.ports import StoredOperation
from kuledger.storage import schema
from kuledger.storage.connections import ReadConnections, Row
from kuledger.storage.dialect import dialect_for
from kuledger.storage.reader import select_list
from kuledger.storage.sql import _ACCOUNT_COLUMNS, account_from_row

_TOKEN_COLUMNS = "name, token_hash, scopes, created_at, revoked_at"


def _token(row: Row) -> OperatorToken:
    name, token_hash, scopes, created_at, revoked_at = row
    return OperatorToken(
        name, token_hash, Scope.parse_list(scopes), created_at, revoked_at
    )


class SqlTokenStore:
    def __init__(self, engine: Engine, connections: ReadConnections) -> None:
        self._engine = engine
        self._db = connections
        self._ph = dialect_for(engine.dialect.name).ph

    def add(self, token: OperatorToken) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    schema.operator_tokens.insert().values(
                        name=token.name,
                        token_hash=token.token_hash,
                        scopes=",".join(sorted(token.scopes)),
                        created_at=token.created_at,
                        revoked_at=None,
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def by_hash(self, token_hash: str) -> OperatorToken | None:
        rows = self._db.rows(
            f"SELECT {_TOKEN_COLUMNS} FROM operator_tokens "
            f"WHERE token_hash = {self._ph}",
            (token_hash,),
        )
        return _token(rows[0]) if rows else None

    def by_name(self, name: str) -> OperatorToken | None:
        rows = self._db.rows(
            f"SELECT {_TOKEN_COLUMNS} FROM operator_tokens WHERE name = {self._ph}",
            (name,),
        )
        return _token(rows[0]) if rows else None

    def all(self) -> list[OperatorToken]:
        rows = self._db.rows(
            f"SELECT {_TOKEN_COLUMNS} FROM operator_tokens ORDER BY created_at, name"
        )
        return [_token(r) for r in rows]

    def revoke(self, name: str, at: int) -> bool:
        t = schema.operator_tokens
        with self._engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.name == name, t.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        return done.rowcount == 1


class SqlOperatorQueries:
    def __init__(self, engine: Engine, connections: ReadConnections) -> None:
        self._db = connections
        self._d = d = dialect_for(engine.dialect.name)
        self._entry_columns = select_list(d, EntryRow._fields)

    def operation(self, uid: str, op_id: str) -> StoredOperation | None:
        ph = self._d.ph
        rows = self._db.rows(
            "SELECT uid, op_id, fingerprint, result, created_at FROM operations "
            f"WHERE uid = {ph} AND op_id = {ph}",
            (uid, op_id),
        )
        return StoredOperation(*rows[0]) if rows else None

    def entries(self, ids: Sequence[int], created_at: int) -> list[EntryRow]:
        if not ids:
            return []
        ph = self._d.ph
        # created_at too: on PostgreSQL it picks the one partition to look in.
        rows = self._db.rows(
            f"SELECT {self._entry_columns} FROM entries WHERE id IN "
            f"({self._d.placeholders(len(ids))}) AND created_at = {ph} ORDER BY id",
            (*ids, created_at),
        )
        return [EntryRow._make(r) for r in rows]

    def users(self, after: str | None, limit: int) -> list[User]:
        ph = self._d.ph
        where, params = (f"WHERE uid > {ph} ", [after]) if after else ("", [])
        rows = self._db.rows(
            "SELECT uid, parent_uid, vip_level, hf, created_at FROM users "
            f"{where}ORDER BY uid LIMIT {int(limit)}",  # the primary key's order
            tuple(params),
        )
        return [User(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def accounts(self, uid: str) -> list[Account]:
        rows = self._db.rows(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE uid = {self._d.ph} "
            "ORDER BY type, currency",
            (uid,),
        )
        return [account_from_row(r) for r in rows]

    def last_entry_at_or_before(
        self, account_id: str, at: int
    ) -> tuple[Decimal, int, int] | None:
        ph = self._d.ph
        # One seek in ix_entries_account_time (account_id, created_at, seq).
        rows = self._db.rows(
            f"SELECT {self._d.text_of('balance')}, seq, created_at FROM entries "
            f"WHERE account_id = {ph} AND created_at <= {ph} "
            "ORDER BY created_at DESC, seq DESC LIMIT 1",
            (account_id, at),
        )
        if not rows:
            return None
        balance, seq, created_at = rows[0]
        return Decimal(balance), seq, created_at

    def verify_status(self) -> VerifyStatus:
        [row] = self._db.rows(
            "SELECT COUNT(*), COUNT(c.account_id), "
            "COALESCE(SUM(CASE WHEN c.account_id IS NULL OR a.seq > c.seq "
            "THEN 1 ELSE 0 END), 0), MAX(c.verified_at) "
            "FROM accounts a LEFT JOIN verify_checkpoints c ON c.account_id = a.id"
        )
        accounts, checkpointed, behind, last = row
        return VerifyStatus(last, int(accounts), int(checkpointed), int(behind))
