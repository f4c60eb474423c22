"""Retention: history older than the horizon (now - retention days) goes away.

Ledger queries already refuse windows reaching before the horizon; this deletes
the entries and idempotency records there. Balances do not change: each account
keeps, as its base, the seq and balance of its last deleted entry, and `verify`
sums from there. An account always loses a prefix of its entries (its oldest):
entries are dated in seq order, and deletion goes oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass

from kuledger.domain.times import DAY_MS
from kuledger.services.ports import Expired, RetentionStore

BATCH = 10_000  # rows per transaction: short enough that the API keeps serving


@dataclass(frozen=True, slots=True)
class Removed:
    entries: int
    operations: int
    partitions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RetentionReport:
    horizon: int
    retention_days: int
    expired: Expired  # what lay beyond the horizon when the run began
    removed: Removed | None  # None on a dry run


def horizon_of(now: int, retention_days: int) -> int:
    """Entries with created_at before this are past retention."""
    return now - retention_days * DAY_MS


def survey(store: RetentionStore, now: int, retention_days: int) -> RetentionReport:
    """What lies beyond the horizon: a dry run, which changes nothing."""
    horizon = horizon_of(now, retention_days)
    return RetentionReport(horizon, retention_days, store.expired(horizon), None)


def apply_retention(
    store: RetentionStore, now: int, retention_days: int, batch: int = BATCH
) -> RetentionReport:
    """Delete everything beyond the horizon. Safe to stop and run again.

    Whole monthly partitions (PostgreSQL) are dropped rather than deleted row by
    row, but only once nothing older is left: the entries older than the first
    such month (in the DEFAULT partition) go first. Then the rest, in batches:
    the DEFAULT partition, the month the horizon cuts, or all of it on SQLite.
    """
    horizon = horizon_of(now, retention_days)
    expired = store.expired(horizon)
    entries = 0
    if expired.partitions:
        entries += _delete_entries(store, expired.partitions[0][1], batch)
    dropped = store.drop_partitions(horizon)
    entries += sum(rows for _, rows in dropped)
    entries += _delete_entries(store, horizon, batch)
    operations = 0
    while True:
        deleted = store.delete_operations(horizon, batch)
        operations += deleted
        if deleted < batch:
            break
    removed = Removed(entries, operations, tuple(name for name, _ in dropped))
    return RetentionReport(horizon, retention_days, expired, removed)


def _delete_entries(store: RetentionStore, before: int, batch: int) -> int:
    total, after_id = 0, 0
    while True:
        result = store.delete_entries(before, after_id, batch)
        total += result.deleted
        if result.last_id is None:
            return total
        after_id = result.last_id
