"""The tables, as SQLAlchemy Core metadata: Alembic's migrations build exactly this.

Money columns are NUMERIC on PostgreSQL and TEXT on SQLite (SQLite has no exact
decimal type; its REAL would round). Amounts are always written in canonical
form (`domain.money.to_wire`), so what is stored is what goes on the wire.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from kuledger.domain.chain import GENESIS
from kuledger.domain.money import to_wire


class Money(TypeDecorator[Decimal]):
    """Exact decimal: NUMERIC on PostgreSQL, canonical TEXT on SQLite."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return Decimal(to_wire(value))  # NUMERIC keeps trailing zeros
        return to_wire(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = sa.MetaData()

currencies = sa.Table(
    "currencies",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("precision", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("uid", sa.Text, primary_key=True),
    sa.Column("parent_uid", sa.Text, sa.ForeignKey("users.uid"), nullable=True),
    sa.Column("vip_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("hf", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("uid", sa.Text, sa.ForeignKey("users.uid"), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, sa.ForeignKey("currencies.code"), nullable=False),
    sa.Column("balance", Money, nullable=False),
    sa.Column("available", Money, nullable=False),
    sa.Column("holds", Money, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("last_entry_at", sa.BigInteger, nullable=False),
    # Where the account's stored history starts: the seq and post-balance of its
    # last entry deleted by retention (0, 0 while none is). Migration 0003.
    sa.Column("base_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("base_balance", Money, nullable=False, server_default="0"),
    # The hash chain (domain.chain): the latest entry's hash, and the hash of
    # the last entry retention deleted (GENESIS while none). Migration 0004.
    sa.Column("chain_head", sa.Text, nullable=False, server_default=GENESIS),
    sa.Column("base_hash", sa.Text, nullable=False, server_default=GENESIS),
    sa.UniqueConstraint("uid", "type", "currency", name="uq_accounts_key"),
)

# Append-only. No foreign keys: the writer has just read the account row it
# posts to, and a per-row FK check would cost bulk ingestion a third of its speed.
# This is the SQLite shape. On PostgreSQL, migration 0002 partitions the table by
# month of created_at, which must then be part of every unique key: primary key
# (id, created_at), ix_entries_ledger (uid, book, created_at DESC, id DESC) and
# ux_entries_account_seq (account_id, seq, created_at). See storage.partitions.
entries = sa.Table(
    "entries",
    metadata,
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
    # SHA-256 over the entry and the account's previous hash (migration 0004).
    sa.Column("hash", sa.Text, nullable=False, server_default=""),
    # The operation record that wrote the entry (its hash binds the record);
    # NULL on entries written before migration 0005, which are chained as v1.
    sa.Column("op_uid", sa.Text, nullable=True),
    sa.Column("op_id", sa.Text, nullable=True),
    sa.Index("ix_entries_ledger", "uid", "book", "created_at", "id"),
    sa.Index("ux_entries_account_seq", "account_id", "seq", unique=True),
    # The balance at a time: one seek to an account's last entry <= T.
    sa.Index("ix_entries_account_time", "account_id", "created_at", "seq"),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("uid", sa.Text, primary_key=True),
    sa.Column("op_id", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False, index=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("uid", sa.Text, sa.ForeignKey("users.uid"), nullable=False, index=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("permissions", sa.Text, nullable=False),
    sa.Column("ip_whitelist", sa.Text, nullable=False),
    sa.Column("key_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

# Which secret key seals the API secrets: one row, written on the key's first
# use with this database (storage.secretbox.bind_key). Migration 0006.
key_fingerprint = sa.Table(
    "key_fingerprint",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint("id = 1", name="ck_key_fingerprint_one_row"),
)

# What the last successful `kuledger verify` saw of each account: where
# `verify --since` resumes its replay (migration 0004), and the account's key
# then (migration 0005), so a later verify sees an account that went or changed.
verify_checkpoints = sa.Table(
    "verify_checkpoints",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("balance", Money, nullable=False),
    sa.Column("verified_at", sa.BigInteger, nullable=False),
    sa.Column("uid", sa.Text, nullable=True),
    sa.Column("type", sa.Text, nullable=True),
    sa.Column("currency", sa.Text, nullable=True),
)

# One row per clean `kuledger verify`: the root (domain.chain.checkpoint_root)
# over the checkpoints it stored, which the next run recomputes. Migration 0005.
verify_runs = sa.Table(
    "verify_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("verified_at", sa.BigInteger, nullable=False),
    sa.Column("accounts", sa.BigInteger, nullable=False),
    sa.Column("root", sa.Text, nullable=False),
)

# Who may call the operator API: each token as the SHA-256 of its text, its
# scopes (post, read, admin) and when it was revoked. Migration operator_tokens.
operator_tokens = sa.Table(
    "operator_tokens",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

# A sub-account's name and trade types (migration sub_accounts). The user row
# (parent_uid) says whose sub it is; a sub made by the operator has no row here.
sub_accounts = sa.Table(
    "sub_accounts",
    metadata,
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

# What a key made by POST /api/v1/sub/api-key has beyond api_keys' columns.
sub_api_keys = sa.Table(
    "sub_api_keys",
    metadata,
    sa.Column("key", sa.Text, sa.ForeignKey("api_keys.key"), primary_key=True),
    sa.Column("remark", sa.Text, nullable=False),
    sa.Column("expire_days", sa.Text, nullable=False),
)

# SQLite hands out entry ids from this one-row table; PostgreSQL uses a sequence.
id_counters = sa.Table(
    "id_counters",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
ENTRY_ID_SEQUENCE = "entry_ids"

# Deposits and withdrawals (migration funding; services/funding.py). A row's
# status moves by the operator; each move that changes a balance is one ledger
# operation in the same transaction, named by the row's `op_id`s.
deposit_addresses = sa.Table(
    "deposit_addresses",
    metadata,
    sa.Column("uid", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("chain", sa.Text, primary_key=True),  # the chainId, lower case
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("memo", sa.Text, nullable=False),
    sa.Column("to_account", sa.Text, nullable=False),  # main or trade
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

deposits = sa.Table(
    "deposits",
    metadata,
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
    sa.Column("op_id", sa.Text, nullable=True),  # the deposit operation, on SUCCESS
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_deposits_user", "uid", "currency", "created_at"),
)

withdrawals = sa.Table(
    "withdrawals",
    metadata,
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
    sa.Column("final_op_id", sa.Text, nullable=True),  # settle or release
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_withdrawals_user", "uid", "currency", "created_at"),
)
