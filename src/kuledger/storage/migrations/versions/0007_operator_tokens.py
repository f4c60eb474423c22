"""The operator API: its tokens, and an index for balances at a time.

operator_tokens: who may call the operator API (`kuledger operator-token`),
each token stored as the SHA-256 of its text, with its scopes and when it was
revoked. ix_entries_account_time (account_id, created_at, seq): the balance of
an account at time T is the post-balance of its last entry at or before T,
one seek in this index. On PostgreSQL it reaches every partition of `entries`.

Revision ID: operator_tokens
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "operator_tokens"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_tokens",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index(
        "ix_entries_account_time", "entries", ["account_id", "created_at", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_entries_account_time", table_name="entries")
    op.drop_table("operator_tokens")
