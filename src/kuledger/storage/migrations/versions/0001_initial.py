"""The initial schema: currencies, users, accounts, entries, operations, keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kuledger.storage.schema import Money

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "currencies",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("precision", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("uid", sa.Text, primary_key=True),
        sa.Column("parent_uid", sa.Text, sa.ForeignKey("users.uid"), nullable=True),
        sa.Column("vip_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("hf", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("uid", sa.Text, sa.ForeignKey("users.uid"), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column(
            "currency", sa.Text, sa.ForeignKey("currencies.code"), nullable=False
        ),
        sa.Column("balance", Money, nullable=False),
        sa.Column("available", Money, nullable=False),
        sa.Column("holds", Money, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("last_entry_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("uid", "type", "currency", name="uq_accounts_key"),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("account_type", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("fee", Money, nullable=False),
        sa.Column("balance", Money, nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("biz_code", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("book", sa.Text, nullable=False),
    )
    op.create_index("ix_entries_ledger", "entries", ["uid", "book", "created_at", "id"])
    op.create_index(
        "ux_entries_account_seq", "entries", ["account_id", "seq"], unique=True
    )
    op.create_table(
        "operations",
        sa.Column("uid", sa.Text, primary_key=True),
        sa.Column("op_id", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("uid", sa.Text, sa.ForeignKey("users.uid"), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("ip_whitelist", sa.Text, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_api_keys_uid", "api_keys", ["uid"])
    op.create_table(
        "id_counters",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE entry_ids AS BIGINT START 1")
    else:
        op.execute("INSERT INTO id_counters (name, value) VALUES ('entries', 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE entry_ids")
    for table in (
        "id_counters",
        "api_keys",
        "operations",
        "entries",
        "accounts",
        "users",
        "currencies",
    ):
        op.drop_table(table)
