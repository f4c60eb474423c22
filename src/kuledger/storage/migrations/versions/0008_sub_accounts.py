"""Sub-accounts: their names and trade types, and their API keys' remarks.

sub_accounts: one row per sub-account created over the API
(POST /api/v2/sub/user/created): its name (unique per master), remarks,
access, and whether margin and futures trading were enabled. sub_api_keys:
the remark and expiry of each key made by POST /api/v1/sub/api-key.

Revision ID: sub_accounts
Revises: operator_tokens
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sub_accounts"
down_revision = "operator_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sub_accounts",
        sa.Column("uid", sa.Text, sa.ForeignKey("users.uid"), primary_key=True),
        sa.Column("parent_uid", sa.Text, sa.ForeignKey("users.uid"), nullable=False),
        sa.Column("sub_name", sa.Text, nullable=False),
        sa.Column("remarks", sa.Text, nullable=False),
        sa.Column("access", sa.Text, nullable=False),
        sa.Column("margin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("futures", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("parent_uid", "sub_name", name="uq_sub_accounts_name"),
    )
    op.create_table(
        "sub_api_keys",
        sa.Column("key", sa.Text, sa.ForeignKey("api_keys.key"), primary_key=True),
        sa.Column("remark", sa.Text, nullable=False),
        sa.Column("expire_days", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sub_api_keys")
    op.drop_table("sub_accounts")
