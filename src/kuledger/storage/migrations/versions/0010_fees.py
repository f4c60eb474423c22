"""Trading fee rates per user: fee_rates (uid, market, symbol) with the maker
and taker rates the operator set (`kuledger fees set`, the operator API).

Revision ID: fees
Revises: funding
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fees"
down_revision = "funding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fee_rates",
        sa.Column("uid", sa.Text, sa.ForeignKey("users.uid"), primary_key=True),
        sa.Column("market", sa.Text, primary_key=True),
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("maker_rate", sa.Text, nullable=False),
        sa.Column("taker_rate", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fee_rates")
