"""Retention's decisions: the horizon, what a dry run does, and the order and
batching of the deletes, against a scripted RetentionStore."""

from __future__ import annotations

from kuledger.services.ports import DeletedBatch, Expired
from kuledger.services.queries import DAY_MS
from kuledger.services.retention import (
    Removed,
    apply_retention,
    horizon_of,
    survey,
)

NOW = 1_790_000_000_000


class ScriptedStore:
    """Entries as (id, created_at); drops the named partitions; has
    `operations` idempotency records; logs every call."""

    def __init__(
        self,
        entries: list[tuple[int, int]] | None = None,
        operations: int = 0,
        partitions: tuple[tuple[str, int], ...] = (),
        dropped: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.entries = dict(entries or [])
        self.operations = operations
        self.partitions, self.dropped = partitions, dropped
        self.calls: list[tuple[object, ...]] = []

    def expired(self, horizon: int) -> Expired:
        self.calls.append(("expired", horizon))
        old = [at for at in self.entries.values() if at < horizon]
        return Expired(
            len(old), 1, self.operations, min(old, default=None), self.partitions
        )

    def delete_entries(self, before: int, after_id: int, limit: int) -> DeletedBatch:
        self.calls.append(("delete_entries", before, after_id))
        ids = sorted(
            i for i, at in self.entries.items() if i > after_id and at < before
        )
        for i in ids[:limit]:
            del self.entries[i]
        return DeletedBatch(len(ids[:limit]), ids[:limit][-1] if ids else None)

    def drop_partitions(self, horizon: int) -> list[tuple[str, int]]:
        self.calls.append(("drop_partitions", horizon))
        return list(self.dropped)

    def delete_operations(self, before: int, limit: int) -> int:
        self.calls.append(("delete_operations", before))
        deleted = min(self.operations, limit)
        self.operations -= deleted
        return deleted


def old(count: int) -> list[tuple[int, int]]:
    """`count` entries, ids 1.., dated a year ago."""
    return [(i, NOW - 365 * DAY_MS + i) for i in range(1, count + 1)]


def test_the_horizon_is_whole_days_back_from_now():
    assert horizon_of(NOW, 30) == NOW - 30 * DAY_MS
    assert horizon_of(NOW, 0) == NOW


def test_a_dry_run_only_asks_what_is_expired():
    store = ScriptedStore(old(5), operations=2)
    report = survey(store, NOW, 7)
    assert store.calls == [("expired", horizon_of(NOW, 7))]
    assert report.removed is None
    assert (report.expired.entries, report.retention_days) == (5, 7)


def test_entries_go_in_batches_each_after_the_last_id_of_the_one_before():
    store = ScriptedStore([*old(25), (26, NOW)])
    report = apply_retention(store, NOW, 30, batch=10)
    horizon = horizon_of(NOW, 30)
    deletes = [c for c in store.calls if c[0] == "delete_entries"]
    assert deletes == [
        ("delete_entries", horizon, 0),
        ("delete_entries", horizon, 10),
        ("delete_entries", horizon, 20),
        ("delete_entries", horizon, 25),
    ]
    assert report.removed == Removed(25, 0, ())
    assert list(store.entries) == [26]


def test_operations_are_deleted_until_a_batch_comes_back_short():
    store = ScriptedStore(operations=20)
    report = apply_retention(store, NOW, 30, batch=10)
    assert [c[0] for c in store.calls].count("delete_operations") == 3
    assert report.removed is not None and report.removed.operations == 20


def test_rows_older_than_the_first_whole_month_go_before_it_is_dropped():
    month = NOW - 90 * DAY_MS
    before_months = [(1, month - 5), (2, month - 1)]
    in_the_cut_month = [(3, NOW - 31 * DAY_MS), (4, NOW - 29 * DAY_MS)]
    store = ScriptedStore(
        before_months + in_the_cut_month,
        partitions=(("entries_m1", month), ("entries_m2", month + 31 * DAY_MS)),
        dropped=(("entries_m1", 40), ("entries_m2", 60)),
    )
    report = apply_retention(store, NOW, 30, batch=10)
    horizon = horizon_of(NOW, 30)
    assert [c[:2] for c in store.calls[:4]] == [
        ("expired", horizon),
        ("delete_entries", month),  # the DEFAULT partition's older rows
        ("delete_entries", month),
        ("drop_partitions", horizon),
    ]
    assert list(store.entries) == [4]
    assert report.removed == Removed(2 + 40 + 60 + 1, 0, ("entries_m1", "entries_m2"))


def test_without_partitions_nothing_is_deleted_before_the_drop():
    store = ScriptedStore()
    apply_retention(store, NOW, 30)
    assert [c[0] for c in store.calls] == [
        "expired",
        "drop_partitions",
        "delete_entries",
        "delete_operations",
    ]
