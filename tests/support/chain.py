"""Test helpers for the hash chain."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kuledger.bootstrap import Container
from kuledger.domain.chain import GENESIS, entry_hash
from kuledger.services.verify import VerifyReport, verify_all
from kuledger.storage.checkpoints import save_checkpoints


def sql(c: Container, statement: str, **params: Any) -> int:
    """Run one statement as an attacker would: straight on the database."""
    with c.engine.begin() as conn:
        return conn.execute(sa.text(statement), params).rowcount


def run_verify(c: Container, since: bool = False) -> VerifyReport:
    """What `kuledger verify [--since]` does: checkpoints stored when clean."""
    with c.reader.snapshot() as snapshot:
        report = verify_all(snapshot, since)
    if report.ok:
        save_checkpoints(c.engine, report.heads.values(), c.clock())
    return report


def as_v1(c: Container) -> None:
    """Make the history what a database before 0005 held: v1 hashes, no
    operation references."""
    with c.engine.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, uid, account_id, account_type, currency, amount, fee, "
                "balance, direction, biz_code, created_at, context, seq "
                "FROM entries ORDER BY account_id, seq"
            )
        ).all()
        heads: dict[str, str] = {}
        for r in rows:
            money = (Decimal(str(v)) for v in r[5:8])
            link = entry_hash(heads.get(r[2], GENESIS), *r[:5], *money, *r[8:13])
            heads[r[2]] = link
            conn.execute(
                sa.text(
                    "UPDATE entries SET hash = :h, op_uid = NULL, op_id = NULL "
                    "WHERE id = :id"
                ),
                {"h": link, "id": r[0]},
            )
        for account_id, head in heads.items():
            conn.execute(
                sa.text("UPDATE accounts SET chain_head = :h WHERE id = :id"),
                {"h": head, "id": account_id},
            )
