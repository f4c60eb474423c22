"""The secret key's fingerprint: which key this database's API secrets are sealed with.

key_fingerprint: one row (id 1), an HMAC of the secret key
(secretbox.FernetBox.fingerprint). `kuledger init`, `serve` and every command
that holds a key compare it with theirs, so a second key never seals secrets
beside the first. The row is written on the first use of a key with this
database, not here: a migration has no key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_fingerprint",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_key_fingerprint_one_row"),
    )


def downgrade() -> None:
    op.drop_table("key_fingerprint")
