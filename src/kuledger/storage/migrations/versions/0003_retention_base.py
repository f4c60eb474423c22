"""Retention: each account's base, and an index to find old idempotency records.

accounts.base_seq / base_balance: the seq and post-balance of the account's last
entry deleted by retention (0 and 0 while none is). `kuledger verify` starts the
account's running sum there instead of at zero. operations.created_at gets an
index so retention finds the old records without reading them all.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kuledger.storage.schema import Money

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("base_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.add_column(
        "accounts",
        sa.Column("base_balance", Money, nullable=False, server_default="0"),
    )
    op.create_index("ix_operations_created_at", "operations", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_operations_created_at", "operations")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("base_balance")
        batch.drop_column("base_seq")
