"""Deposits, withdrawals and deposit addresses in SQL: SqlFundingStore writes
inside the unit of work (so a status and its ledger operation commit
together), SqlFundingQueries reads through the read side's connections."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kuledger.domain.accounts import AccountType
from kuledger.domain.funding import DepositAddress, DepositRecord, WithdrawalRecord
from kuledger.services.funding import HistoryFilter
from kuledger.storage import schema
from kuledger.storage.connections import ReadConnections, Row
from kuledger.storage.dialect import SqlDialect

_ADDRESS = ("uid", "currency", "chain", "address", "memo", "to_account", "created_at")
_DEPOSIT = tuple(c.name for c in schema.deposits.columns)
_WITHDRAWAL = tuple(c.name for c in schema.withdrawals.columns)


def _address(row: Row) -> DepositAddress:
    uid, currency, chain, address, memo, to, created_at = row
    return DepositAddress(
        uid, currency, chain, address, memo, AccountType(to), created_at
    )


def _deposit(row: Row) -> DepositRecord:
    values = dict(zip(_DEPOSIT, row, strict=True))
    values["to"] = AccountType(values.pop("to_account"))
    values["is_inner"] = bool(values["is_inner"])
    for name in ("amount", "fee"):
        values[name] = Decimal(values[name])
    return DepositRecord(**values)


def _withdrawal(row: Row) -> WithdrawalRecord:
    values = dict(zip(_WITHDRAWAL, row, strict=True))
    values["is_inner"] = bool(values["is_inner"])
    for name in ("amount", "fee"):
        values[name] = Decimal(values[name])
    return WithdrawalRecord(**values)


def _deposit_row(r: DepositRecord) -> dict[str, Any]:
    return {
        name: (r.to.value if name == "to_account" else getattr(r, name))
        for name in _DEPOSIT
    }


def _withdrawal_row(r: WithdrawalRecord) -> dict[str, Any]:
    return {name: getattr(r, name) for name in _WITHDRAWAL}


class SqlFundingStore:
    """The write side, on the unit of work's connection."""

    def __init__(self, connection: sa.Connection, dialect: SqlDialect) -> None:
        self._conn = connection
        self._d = dialect

    def _one(
        self, table: str, columns: tuple[str, ...], where: str, params: Any
    ) -> Row | None:
        ph = self._d.ph
        clause = " AND ".join(f"{c} = {ph}" for c in where.split(","))
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {clause}"
        row = self._conn.exec_driver_sql(sql + self._d.for_update, params).first()
        return None if row is None else tuple(row)

    def address(self, uid: str, currency: str, chain: str) -> DepositAddress | None:
        row = self._one(
            "deposit_addresses", _ADDRESS, "uid,currency,chain", (uid, currency, chain)
        )
        return None if row is None else _address(row)

    def put_address(self, a: DepositAddress) -> None:
        t = schema.deposit_addresses
        key = (t.c.uid == a.uid) & (t.c.currency == a.currency) & (t.c.chain == a.chain)
        self._conn.execute(t.delete().where(key))
        self._conn.execute(
            t.insert().values(
                uid=a.uid,
                currency=a.currency,
                chain=a.chain,
                address=a.address,
                memo=a.memo,
                to_account=a.to.value,
                created_at=a.created_at,
            )
        )

    def deposit(self, record_id: str) -> DepositRecord | None:
        """The deposit, locked until the transaction ends."""
        row = self._one("deposits", _DEPOSIT, "id", (record_id,))
        return None if row is None else _deposit(row)

    def add_deposit(self, r: DepositRecord) -> None:
        self._conn.execute(schema.deposits.insert().values(**_deposit_row(r)))

    def update_deposit(self, r: DepositRecord) -> None:
        t = schema.deposits
        self._conn.execute(t.update().where(t.c.id == r.id).values(**_deposit_row(r)))

    def withdrawal(self, record_id: str) -> WithdrawalRecord | None:
        """The withdrawal, locked until the transaction ends."""
        row = self._one("withdrawals", _WITHDRAWAL, "id", (record_id,))
        return None if row is None else _withdrawal(row)

    def add_withdrawal(self, r: WithdrawalRecord) -> None:
        self._conn.execute(schema.withdrawals.insert().values(**_withdrawal_row(r)))

    def update_withdrawal(self, r: WithdrawalRecord) -> None:
        t = schema.withdrawals
        self._conn.execute(
            t.update().where(t.c.id == r.id).values(**_withdrawal_row(r))
        )


class SqlFundingQueries:
    """The read side: addresses, and history pages newest first."""

    def __init__(self, connections: ReadConnections, dialect: SqlDialect) -> None:
        self._db = connections
        self._d = dialect

    def addresses(
        self, uid: str, currency: str, chain: str | None
    ) -> list[DepositAddress]:
        ph = self._d.ph
        sql = (
            f"SELECT {', '.join(_ADDRESS)} FROM deposit_addresses "
            f"WHERE uid = {ph} AND currency = {ph}"
        )
        params: tuple[Any, ...] = (uid, currency)
        if chain is not None:
            sql, params = sql + f" AND chain = {ph}", (*params, chain)
        return [_address(r) for r in self._db.rows(sql + " ORDER BY chain", params)]

    def _page(
        self, table: str, columns: tuple[str, ...], f: HistoryFilter
    ) -> tuple[int, list[Row]]:
        ph = self._d.ph
        clauses: list[str] = [f"uid = {ph}"]
        params: list[object] = [f.uid]
        for column, op, value in (
            ("currency", "=", f.currency),
            ("status", "=", f.status),
            ("created_at", ">=", f.start_at),
            ("created_at", "<=", f.end_at),
        ):
            if value is not None:
                clauses.append(f"{column} {op} {ph}")
                params.append(value)
        where = " AND ".join(clauses)
        [(total,)] = self._db.rows(
            f"SELECT COUNT(*) FROM {table} WHERE {where}", tuple(params)
        )
        rows = self._db.rows(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {where} "
            f"ORDER BY created_at DESC, id DESC LIMIT {ph} OFFSET {ph}",
            (*params, f.limit, f.offset),
        )
        return int(total), rows

    def deposits(self, f: HistoryFilter) -> tuple[int, list[DepositRecord]]:
        total, rows = self._page("deposits", _DEPOSIT, f)
        return total, [_deposit(r) for r in rows]

    def withdrawals(self, f: HistoryFilter) -> tuple[int, list[WithdrawalRecord]]:
        total, rows = self._page("withdrawals", _WITHDRAWAL, f)
        return total, [_withdrawal(r) for r in rows]

    def withdrawal(self, uid: str, record_id: str) -> WithdrawalRecord | None:
        ph = self._d.ph
        rows = self._db.rows(
            f"SELECT {', '.join(_WITHDRAWAL)} FROM withdrawals "
            f"WHERE id = {ph} AND uid = {ph}",
            (record_id, uid),
        )
        return _withdrawal(rows[0]) if rows else None

    def unbooked_successes(self) -> list[tuple[str, str, str, str]]:
        """(kind, id, uid, op_id) of each SUCCESS deposit or withdrawal whose
        ledger operation is missing: what `kuledger verify` reports."""
        found = []
        for kind, table, column in (
            ("deposit", "deposits", "op_id"),
            ("withdrawal", "withdrawals", "final_op_id"),
        ):
            rows = self._db.rows(
                f"SELECT f.id, f.uid, COALESCE(f.{column}, '') FROM {table} f "
                "LEFT JOIN operations o ON o.uid = f.uid AND o.op_id = f."
                f"{column} WHERE f.status = 'SUCCESS' AND o.op_id IS NULL"
            )
            found += [(kind, r[0], r[1], r[2]) for r in rows]
        return found
