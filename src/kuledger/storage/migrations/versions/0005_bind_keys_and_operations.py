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
row per clean verify, with the root over the checkpoints it stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
    op.drop_table("verify_runs")
    with op.batch_alter_table("verify_checkpoints") as batch:
        for name in ("currency", "type", "uid"):
            batch.drop_column(name)
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("op_id")
        batch.drop_column("op_uid")
