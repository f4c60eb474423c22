"""PostgreSQL: partition `entries` by month of created_at (SQLite: nothing to do).

The plain table is copied into a new one partitioned BY RANGE (created_at): one
partition per calendar month (UTC) that holds rows, named entries_yYYYYmMM, and
a DEFAULT partition for rows no month covers. `kuledger init`, `serve` and
`seed` add the months around "now" (storage.partitions).

Keys and indexes on a partitioned table must include the partition key:
- primary key (id, created_at). Ids stay unique: one sequence hands them out;
- ix_entries_ledger (uid, book, created_at DESC, id DESC): the ledger query
  (uid, book, a createdAt window, newest first) is an index-range scan of the
  window's month(s), already in order, so LIMIT stops early;
- ux_entries_account_seq UNIQUE (account_id, seq, created_at). It no longer
  proves (account_id, seq) unique on its own: that is guaranteed by the writer,
  which holds the account's row lock while it numbers the entries, and checked
  by `kuledger verify` (gaps and repeats).

The copy holds an EXCLUSIVE lock on the old table (reads go on, writes wait), so
run it with the API stopped or idle; it takes about as long as a table copy.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

from kuledger.storage.partitions import (
    DEFAULT_PARTITION,
    month_start,
    partition_name,
    shift_months,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_DAY_MS = 86_400_000  # a copy, not an import: a migration stays as it was written
_COLUMNS = (
    "id, uid, account_id, account_type, currency, amount, fee, balance, "
    "direction, biz_code, created_at, context, seq, book"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("LOCK TABLE entries IN EXCLUSIVE MODE")
    op.execute(
        "CREATE TABLE entries_partitioned (LIKE entries INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (created_at)"
    )
    op.execute(
        f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF entries_partitioned DEFAULT"
    )
    for month in _months_with_rows():
        op.execute(
            f"CREATE TABLE {partition_name(month)} PARTITION OF entries_partitioned "
            f"FOR VALUES FROM ({month}) TO ({shift_months(month, 1)})"
        )
    _copy("entries", "entries_partitioned")
    op.execute("DROP TABLE entries")
    op.execute("ALTER TABLE entries_partitioned RENAME TO entries")
    # Built after the copy: one sort per index beats a million inserts into it.
    op.execute(
        "ALTER TABLE entries ADD CONSTRAINT entries_pkey PRIMARY KEY (id, created_at)"
    )
    op.execute(
        "CREATE INDEX ix_entries_ledger "
        "ON entries (uid, book, created_at DESC, id DESC)"
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_entries_account_seq "
        "ON entries (account_id, seq, created_at)"
    )
    op.execute("ANALYZE entries")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("LOCK TABLE entries IN EXCLUSIVE MODE")
    op.execute("CREATE TABLE entries_plain (LIKE entries INCLUDING DEFAULTS)")
    _copy("entries", "entries_plain")
    op.execute("DROP TABLE entries")  # and every partition with it
    op.execute("ALTER TABLE entries_plain RENAME TO entries")
    op.execute("ALTER TABLE entries ADD CONSTRAINT entries_pkey PRIMARY KEY (id)")
    op.execute("CREATE INDEX ix_entries_ledger ON entries (uid, book, created_at, id)")
    op.execute(
        "CREATE UNIQUE INDEX ux_entries_account_seq ON entries (account_id, seq)"
    )
    op.execute("ANALYZE entries")


def _months_with_rows() -> list[int]:
    days = op.get_bind().exec_driver_sql(
        f"SELECT DISTINCT created_at / {_DAY_MS} FROM entries"
    )
    return sorted({month_start(day * _DAY_MS) for (day,) in days})


def _copy(source: str, target: str) -> None:
    op.execute(f"INSERT INTO {target} ({_COLUMNS}) SELECT {_COLUMNS} FROM {source}")
