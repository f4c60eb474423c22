"""Tamper evidence: a per-account hash chain over entries, and verify checkpoints.

entries.hash: SHA-256 over the entry's fields and the hash of the account's
previous entry (domain.chain). accounts.chain_head: the hash of the latest
entry; accounts.base_hash: that of the last entry retention deleted (GENESIS
while none). verify_checkpoints: what the last successful `kuledger verify`
saw of each account, where `verify --since` resumes.

Existing entries are hashed here, account by account in seq order, so an old
database comes out chained. An account whose oldest entries retention already
deleted starts its chain at GENESIS with its first kept entry (its base_hash
stays GENESIS). On PostgreSQL, ALTER TABLE on the partitioned `entries`
reaches every partition.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from kuledger.domain.chain import GENESIS, entry_hash
from kuledger.storage.schema import Money

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PAGE = 10_000


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("chain_head", sa.Text, nullable=False, server_default=GENESIS),
    )
    op.add_column(
        "accounts",
        sa.Column("base_hash", sa.Text, nullable=False, server_default=GENESIS),
    )
    op.add_column(
        "entries", sa.Column("hash", sa.Text, nullable=False, server_default="")
    )
    op.create_table(
        "verify_checkpoints",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("balance", Money, nullable=False),
        sa.Column("verified_at", sa.BigInteger, nullable=False),
    )
    _chain_existing_entries()


def downgrade() -> None:
    op.drop_table("verify_checkpoints")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("hash")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("base_hash")
        batch.drop_column("chain_head")


def _chain_existing_entries() -> None:
    """Hash every entry, by account then seq, a page at a time (keyset)."""
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    ph = "%s" if postgres else "?"
    text = "::text" if postgres else ""
    heads: dict[str, str] = {}
    account, seq = "", -1
    while True:
        rows = conn.exec_driver_sql(
            "SELECT id, uid, account_id, account_type, currency, "
            f"amount{text}, fee{text}, balance{text}, direction, biz_code, "
            "created_at, context, seq FROM entries "
            f"WHERE account_id > {ph} OR (account_id = {ph} AND seq > {ph}) "
            "ORDER BY account_id, seq LIMIT " + str(_PAGE),
            (account, account, seq),
        ).all()
        if not rows:
            break
        updates = []
        for row in rows:
            link = entry_hash(
                heads.get(row[2], GENESIS),
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                Decimal(row[5]),
                Decimal(row[6]),
                Decimal(row[7]),
                row[8],
                row[9],
                row[10],
                row[11],
                row[12],
            )
            heads[row[2]] = link
            updates.append((link, row[0], row[10]))
        conn.exec_driver_sql(
            f"UPDATE entries SET hash = {ph} WHERE id = {ph} AND created_at = {ph}",
            updates,
        )
        account, seq = rows[-1][2], rows[-1][12]
    if heads:
        conn.exec_driver_sql(
            f"UPDATE accounts SET chain_head = {ph} WHERE id = {ph}",
            [(head, account_id) for account_id, head in heads.items()],
        )
