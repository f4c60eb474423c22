"""Monthly partitions of `entries` on PostgreSQL (SQLite has none: every call
here is a no-op there).

Migration 0002 makes `entries` a table partitioned by RANGE (created_at), one
partition per calendar month (UTC) named `entries_yYYYYmMM`, plus the DEFAULT
partition `entries_default` for rows no month covers. Creating or dropping a
partition takes an ACCESS EXCLUSIVE lock on `entries` (and on the DEFAULT
partition, which PostgreSQL scans to prove the new month holds none of its rows),
so both run under a short lock timeout and create nothing that already exists.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

DEFAULT_PARTITION = "entries_default"
LOCK_TIMEOUT = "5s"  # DDL waits at most this long for readers and writers to drain
_ADVISORY_KEY = 0x6B756C65  # one creator at a time: pg_advisory_xact_lock(this)
_BOUNDS = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")
# Row-lock accounts in the writers' order (sql.SqlLedgerStore.lock_accounts), so
# moving retention bases can never deadlock with a writer.
_LOCK_ORDER = 'ORDER BY uid COLLATE "C", type COLLATE "C", currency COLLATE "C"'


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of `entries`: rows with start <= created_at < end.
    Both bounds are None for the DEFAULT partition."""

    name: str
    start: int | None
    end: int | None


def month_start(ms: int) -> int:
    """The first millisecond (UTC) of the calendar month holding `ms`."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return _ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))


def shift_months(ms: int, months: int) -> int:
    """The first millisecond of the month `months` after (or before) ms's month."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    index = moment.year * 12 + moment.month - 1 + months
    return _ms(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))


def partition_name(ms: int) -> str:
    """entries_yYYYYmMM, for the month holding `ms`."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"entries_y{moment.year:04d}m{moment.month:02d}"


def months_between(start_ms: int, end_ms: int) -> list[int]:
    """The start of every month from the one holding start_ms to end_ms's."""
    months, month = [], month_start(start_ms)
    while month <= end_ms:
        months.append(month)
        month = shift_months(month, 1)
    return months


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


def is_partitioned(connection: sa.Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.exec_driver_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('entries')"
    ).scalar()
    return kind == "p"


def partitions_of(connection: sa.Connection) -> list[Partition]:
    """The partitions of `entries`, monthly ones by start, DEFAULT last."""
    if not is_partitioned(connection):
        return []
    rows = connection.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'entries'::regclass"
    )
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match is None:
            found.append(Partition(name, None, None))
        else:
            found.append(Partition(name, int(match[1]), int(match[2])))
    return sorted(found, key=lambda p: (p.start is None, p.start or 0))


def list_partitions(engine: Engine) -> list[Partition]:
    with engine.connect() as connection:
        return partitions_of(connection)


def ensure_month_partitions(engine: Engine, start_ms: int, end_ms: int) -> list[str]:
    """Create the missing monthly partitions from start_ms's month to end_ms's;
    return the names created.

    A month whose rows already sit in the DEFAULT partition is skipped with a
    warning (PostgreSQL would refuse it: those rows would have to move), and so
    is one whose lock does not come within LOCK_TIMEOUT. Its rows keep going to
    the DEFAULT partition, where they are found and deleted like any other.
    """
    with engine.connect() as connection:
        existing = partitions_of(connection)
    if not existing:
        return []  # SQLite, or a database not yet migrated to 0002
    ranges = [
        (p.start, p.end) for p in existing if p.start is not None and p.end is not None
    ]
    has_default = len(ranges) < len(existing)
    created = []
    for month in months_between(start_ms, end_ms):
        covered = any(lo <= month < hi for lo, hi in ranges)
        if not covered and _create_month(engine, month, has_default):
            created.append(partition_name(month))
    return created


def _create_month(engine: Engine, month: int, has_default: bool) -> bool:
    name, end = partition_name(month), shift_months(month, 1)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_KEY})")
            if _exists(connection, name):
                return False  # another process made it while we looked
            if has_default and _default_holds(connection, month, end):
                log.warning(
                    "partition %s not created: the DEFAULT partition already holds "
                    "rows of that month, which stay there",
                    name,
                )
                return False
            connection.exec_driver_sql(
                f"CREATE TABLE {name} PARTITION OF entries "
                f"FOR VALUES FROM ({month}) TO ({end})"
            )
    except sa.exc.OperationalError as exc:
        log.warning("partition %s not created: %s", name, exc.orig)
        return False
    return True


def _exists(connection: sa.Connection, name: str) -> bool:
    found = connection.exec_driver_sql("SELECT to_regclass(%s)", (name,)).scalar()
    return found is not None


def _default_holds(connection: sa.Connection, start: int, end: int) -> bool:
    row = connection.exec_driver_sql(
        f"SELECT 1 FROM {DEFAULT_PARTITION} "
        "WHERE created_at >= %s AND created_at < %s LIMIT 1",
        (start, end),
    ).first()
    return row is not None


def drop_partitions_before(engine: Engine, horizon_ms: int) -> list[tuple[str, int]]:
    """Drop, oldest first, every monthly partition wholly older than horizon_ms;
    return (name, rows it held) for each.

    Each drop is one transaction that first moves the retention base of every
    account with rows in the partition (accounts.base_seq, base_balance and
    base_hash: the seq, balance and hash of its last entry there), so
    `kuledger verify` still adds up and the kept chain still links.
    A partition is dropped only when no older entry remains anywhere else (the
    DEFAULT partition may hold some): the entries an account loses must be the
    oldest it has. Dropping stops, with a warning, at the first one that fails
    this; services.retention deletes those older rows first.
    """
    dropped: list[tuple[str, int]] = []
    for partition in list_partitions(engine):
        if partition.start is None or partition.end is None:
            continue
        if partition.end > horizon_ms:
            break
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            if _older_rows_exist(connection, partition.start):
                log.warning(
                    "partition %s not dropped: older entries remain outside it",
                    partition.name,
                )
                break
            dropped.append((partition.name, _drop(connection, partition.name)))
    return dropped


def _older_rows_exist(connection: sa.Connection, before: int) -> bool:
    row = connection.exec_driver_sql(
        "SELECT 1 FROM entries WHERE created_at < %s LIMIT 1", (before,)
    ).first()
    return row is not None


def _drop(connection: sa.Connection, name: str) -> int:
    lock_accounts(connection, f"SELECT account_id FROM {name}", ())
    connection.exec_driver_sql(
        "UPDATE accounts a SET base_seq = last.seq, base_balance = last.balance, "
        "base_hash = last.hash "
        "FROM (SELECT DISTINCT ON (account_id) account_id, seq, balance, hash "
        f"FROM {name} ORDER BY account_id, seq DESC) last "
        "WHERE a.id = last.account_id AND a.base_seq < last.seq"
    )
    rows = connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one()
    connection.exec_driver_sql(f"DROP TABLE {name}")
    log.info("dropped partition %s (%d entries)", name, rows)
    return int(rows)


def lock_accounts(
    connection: sa.Connection, ids_sql: str, params: tuple[object, ...]
) -> None:
    """Row-lock (PostgreSQL) the accounts whose id `ids_sql` selects, in the
    order writers lock them. On SQLite the write lock is already held."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"SELECT id FROM accounts WHERE id IN ({ids_sql}) {_LOCK_ORDER} FOR UPDATE",
            params,
        )
