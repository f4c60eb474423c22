"""Tamper evidence, second round: entries bound to their operation records, and
checkpoints that remember each account's key and their own root.

entries.op_uid / op_id: the operation record that wrote the entry. Entries
written from now on are chained as v2 (domain.chain): their hash also covers
their book and the digest of that record (fingerprint and result included).
Existing entries keep their v1 hashes and NULL here: rehashing them would
invalidate heads already published outside the database. On PostgreSQL, ALTER
TABLE on the partitioned `entries` reaches every partition; nullable columns
without a default are a catalogue change, no table rewrite.

verify_checkpoints.uid / type / currency: the account's key when it was
verified, filled in here from the accounts as they are now. verify_runs: one
row per clean verify, with the root over the checkpoints it stored; here, one
for the checkpoints already there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from kuledger.services.verify import Checkpoint, root_of

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("op_uid", sa.Text, nullable=True))
    op.add_column("entries", sa.Column("op_id", sa.Text, nullable=True))
    for name in ("uid", "type", "currency"):
        op.add_column("verify_checkpoints", sa.Column(name, sa.Text, nullable=True))
        op.execute(
            f"UPDATE verify_checkpoints SET {name} = (SELECT a.{name} FROM accounts a "
            "WHERE a.id = verify_checkpoints.account_id)"
        )
    op.create_table(
        "verify_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("verified_at", sa.BigInteger, nullable=False),
        sa.Column("accounts", sa.BigInteger, nullable=False),
        sa.Column("root", sa.Text, nullable=False),
    )
    _record_existing_checkpoints()


def _record_existing_checkpoints() -> None:
    """A run row for the checkpoints 0004 stored, so that from now on
    checkpoints without a run recording their root are a finding."""
    conn = op.get_bind()
    text = "::text" if conn.dialect.name == "postgresql" else ""
    rows = conn.exec_driver_sql(
        f"SELECT account_id, seq, hash, balance{text}, uid, type, currency, "
        "verified_at FROM verify_checkpoints"
    ).all()
    if not rows:
        return
    checkpoints = [
        Checkpoint(r[0], r[1], r[2], Decimal(r[3]), r[4], r[5], r[6]) for r in rows
    ]
    conn.execute(
        sa.text(
            "INSERT INTO verify_runs (verified_at, accounts, root) "
            "VALUES (:at, :n, :root)"
        ),
        {"at": max(r[7] for r in rows), "n": len(rows), "root": root_of(checkpoints)},
    )


def downgrade() -> None:
    op.drop_table("verify_runs")
    with op.batch_alter_table("verify_checkpoints") as batch:
        for name in ("currency", "type", "uid"):
            batch.drop_column(name)
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("op_id")
        batch.drop_column("op_uid")
