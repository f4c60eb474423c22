"""Deposits and withdrawals: deposit addresses, deposits, withdrawals.

Each row records a deposit or withdrawal and its status; the balance changes
are ledger operations (their ids in op_id, hold_op_id, final_op_id).

Revision ID: funding
Revises: sub_accounts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kuledger.storage.schema import Money

revision = "funding"
down_revision = "sub_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deposit_addresses",
        sa.Column("uid", sa.Text, primary_key=True),
        sa.Column("currency", sa.Text, primary_key=True),
        sa.Column("chain", sa.Text, primary_key=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("to_account", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "deposits",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("to_account", sa.Text, nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("fee", Money, nullable=False),
        sa.Column("wallet_tx_id", sa.Text, nullable=False),
        sa.Column("is_inner", sa.Boolean, nullable=False),
        sa.Column("remark", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("op_id", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_deposits_user", "deposits", ["uid", "currency", "created_at"])
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("is_inner", sa.Boolean, nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("fee", Money, nullable=False),
        sa.Column("remark", sa.Text, nullable=False),
        sa.Column("wallet_tx_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("failure_reason", sa.Text, nullable=False),
        sa.Column("hold_op_id", sa.Text, nullable=False),
        sa.Column("final_op_id", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_withdrawals_user", "withdrawals", ["uid", "currency", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_withdrawals_user", table_name="withdrawals")
    op.drop_table("withdrawals")
    op.drop_index("ix_deposits_user", table_name="deposits")
    op.drop_table("deposits")
    op.drop_table("deposit_addresses")
