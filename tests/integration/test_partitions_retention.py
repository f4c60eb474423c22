"""Monthly partitions (PostgreSQL) and retention (both engines), on real databases."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kuledger.bootstrap import Container
from kuledger.domain.accounts import Book
from kuledger.services import ledger, users
from kuledger.services.ports import LedgerFilter, Seek
from kuledger.services.retention import apply_retention, horizon_of, survey
from kuledger.services.seed import SeedPlan, generate
from kuledger.services.verify import verify
from kuledger.storage import migrate
from kuledger.storage.partitions import (
    DEFAULT_PARTITION,
    ensure_month_partitions,
    list_partitions,
    month_start,
    shift_months,
)
from kuledger.storage.retention import SqlRetentionStore
from tests.conftest import make_container
from tests.fakes import FakeClock

DAY = 86_400_000
HOUR = 3_600_000
RETENTION_DAYS = 30


@pytest.fixture
def pg(postgres_url: str, clock: FakeClock) -> Iterator[Container]:
    c = make_container(postgres_url, clock)
    yield c
    c.close()


def _op(op: str, uid: str, op_id: str, at: int, **fields: object) -> dict[str, Any]:
    return {"op": op, "uid": uid, "id": op_id, "currency": "USDT", "at": at, **fields}


def _homes(c: Container) -> dict[int, str]:
    """Entry id -> the partition (PostgreSQL table) holding it."""
    with c.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, tableoid::regclass::text FROM entries")
        return dict(rows.all())


# --- partitions ----------------------------------------------------------------


@pytest.mark.postgres
def test_init_creates_months_around_now_not_the_whole_retention_period(
    postgres_url,
):
    # 100,000 days of retention once meant 3,300 empty monthly tables, and
    # seeding then failed with "out of shared memory" (every statement on
    # entries locked them all).
    from click.testing import CliRunner

    from kuledger.cli.main import cli

    env = {
        "KULEDGER_DATABASE_URL": postgres_url,
        "KULEDGER_SECRET_KEY": "init-partitions-test-key",
        "KULEDGER_RETENTION_DAYS": "100000",
    }
    result = CliRunner(env=env).invoke(cli, ["init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    c = make_container(postgres_url)
    try:
        months = [p for p in list_partitions(c.engine) if p.start is not None]
        now = c.clock()
        assert [p.start for p in months] == [shift_months(now, k) for k in range(-1, 4)]
        # Gaps between an older month (made by seed or import) and now are filled.
        old = shift_months(now, -6)
        ensure_month_partitions(c.engine, old, old)
        assert CliRunner(env=env).invoke(cli, ["init"]).exit_code == 0
        starts = [p.start for p in list_partitions(c.engine) if p.start is not None]
        assert starts == [shift_months(now, k) for k in range(-6, 4)]
    finally:
        c.close()


@pytest.mark.postgres
def test_entries_either_side_of_a_month_boundary_land_in_two_partitions(pg):
    boundary = month_start(pg.clock())
    created = ensure_month_partitions(pg.engine, boundary - DAY, boundary + DAY)
    assert created == ["entries_y2026m08", "entries_y2026m09"]
    users.create_user(pg.uow, pg.clock, uid="u1")
    before = ledger.apply(
        pg.uow, _op("deposit", "u1", "d1", boundary - 1, amount="1"), pg.clock
    )
    after = ledger.apply(
        pg.uow, _op("deposit", "u1", "d2", boundary, amount="1"), pg.clock
    )
    homes = _homes(pg)
    assert homes[before.entry_ids[0]] == "entries_y2026m08"
    assert homes[after.entry_ids[0]] == "entries_y2026m09"
    assert ensure_month_partitions(pg.engine, boundary - DAY, boundary + DAY) == []


@pytest.mark.postgres
def test_a_month_already_in_the_default_partition_is_skipped_with_a_warning(pg, caplog):
    users.create_user(pg.uow, pg.clock, uid="u1")
    at = shift_months(pg.clock(), -5)
    result = ledger.apply(pg.uow, _op("deposit", "u1", "d1", at, amount="1"), pg.clock)
    assert _homes(pg)[result.entry_ids[0]] == DEFAULT_PARTITION
    with caplog.at_level(logging.WARNING, logger="kuledger.storage.partitions"):
        created = ensure_month_partitions(pg.engine, at - 31 * DAY, at + 31 * DAY)
    assert created == ["entries_y2026m03", "entries_y2026m05"]
    assert "entries_y2026m04 not created" in caplog.text
    assert [p.name for p in list_partitions(pg.engine)] == [*created, DEFAULT_PARTITION]


def _seed(c: Container, entries: int, days: int, end_at: int) -> SeedPlan:
    plan = SeedPlan(20, entries, days, 7, end_at)
    ensure_month_partitions(c.engine, plan.end_at - days * DAY, plan.end_at)
    for index in range(plan.users):
        users.create_user(c.uow, c.clock, uid=plan.uid(index))
    batch: list[dict[str, Any]] = []
    for payload, _ in generate(plan):
        batch.append(payload)
        if len(batch) == 2_000:
            ledger.apply_batch(c.uow, batch, c.clock)
            batch = []
    ledger.apply_batch(c.uow, batch, c.clock)
    with c.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE entries")
    return plan


def _explain(c: Container, query: LedgerFilter) -> str:
    sql, params = c.reader.entry_rows_statement(query, Seek(), 50)
    with c.engine.connect() as conn:
        lines = conn.exec_driver_sql(f"EXPLAIN {sql}", params).scalars().all()
    return "\n".join(lines)


def _ledger_index_partitions(c: Container) -> set[str]:
    with c.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'ix_entries_ledger'::regclass"
        )
        return set(rows.scalars())


WINDOWS = [  # (hours after Sep 1 00:00 UTC the 24 h window starts, currencies)
    (48, ()),  # a day inside September
    (-12, ()),  # Aug 31 12:00 to Sep 1 12:00
    (-12, ("USDT", "BTC")),
]


@pytest.mark.postgres
def test_the_ledger_query_is_an_index_range_scan_of_the_windows_months(pg):
    # Ten busy days around Sep 1: the first user has ~500 entries a day, ten
    # pages, so reading the newest 50 in index order beats sorting them all.
    september = month_start(pg.clock())
    plan = _seed(pg, entries=20_000, days=10, end_at=september + 5 * DAY)
    ledger_indexes = _ledger_index_partitions(pg)
    for hours, currencies in WINDOWS:
        start = september + hours * HOUR
        query = LedgerFilter(plan.uid(0), Book.SPOT, start, start + DAY, currencies)
        text = _explain(pg, query)
        print(text)
        assert "Seq Scan" not in text
        assert not re.search(r"(^|->)\s*(Incremental )?Sort\b", text, re.M), text
        used = re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\S+)", text)
        assert used and set(used) <= ledger_indexes, text
        months = {"entries_y2026m09"} | ({"entries_y2026m08"} if hours < 0 else set())
        assert set(re.findall(r" on (entries_\w+)", text)) == months, text
        assert pg.reader.counted_entry_rows(query, Seek(), 50, None).rows  # finds rows


def _snapshot(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, uid, account_id, account_type, currency, amount::text, "
            "fee::text, balance::text, direction, biz_code, created_at, context, "
            "seq, book FROM entries ORDER BY id"
        )
        return [tuple(r) for r in rows]


def _relkind(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        kind = conn.exec_driver_sql(
            "SELECT relkind FROM pg_class WHERE oid = 'entries'::regclass"
        ).scalar_one()
        return str(kind)


@pytest.mark.postgres
def test_migration_0002_upgrade_and_downgrade_keep_every_row(pg):
    migrate.downgrade(pg.engine, "0001")
    assert _relkind(pg.engine) == "r"
    july = 1_782_864_000_000  # 2026-07-01T00:00:00Z
    times = [
        july - 1,
        july,
        july + 1,
        july + 40 * DAY,
        july + 75 * DAY,
        july + 75 * DAY,
    ]
    with pg.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO entries VALUES (%s, %s, %s, 'main', 'USDT', %s, 0, %s, "
            "'in', 'DEPOSIT', %s, '', %s, 'spot')",
            [
                (
                    n + 1,
                    f"u{n % 2}",
                    f"a{n % 2}",
                    f"{n}.5",
                    f"{n * 2}.25",
                    at,
                    n // 2 + 1,
                )
                for n, at in enumerate(times)
            ],
        )
    rows = _snapshot(pg.engine)
    assert len(rows) == 6

    migrate.upgrade(pg.engine)
    assert _relkind(pg.engine) == "p"
    assert _snapshot(pg.engine) == rows
    homes = sorted(_homes(pg).items())
    assert [home for _, home in homes] == [
        "entries_y2026m06",
        "entries_y2026m07",
        "entries_y2026m07",
        "entries_y2026m08",
        "entries_y2026m09",
        "entries_y2026m09",
    ]
    assert DEFAULT_PARTITION in {p.name for p in list_partitions(pg.engine)}

    migrate.downgrade(pg.engine, "0001")
    assert _relkind(pg.engine) == "r"
    assert _snapshot(pg.engine) == rows
    migrate.upgrade(pg.engine)
    assert _snapshot(pg.engine) == rows


# --- retention -----------------------------------------------------------------


def _history(c: Container) -> None:
    """Users whose entries lie months apart, on both sides of a 30-day horizon.

    u1: entries before and after the horizon, with a hold in between;
    u2: every entry before it; u3: every entry after it;
    u4: one deposit a day from 60 to 20 days ago (many batches).
    """
    now = c.clock()
    for uid in ("u1", "u2", "u3", "u4"):
        users.create_user(c.uow, c.clock, uid=uid)
    ops = [
        _op("deposit", "u1", "a", now - 200 * DAY, amount="100"),
        _op("deposit", "u1", "b", now - 100 * DAY, amount="50"),
        _op("withdrawal", "u1", "c", now - 65 * DAY, amount="20", fee="1"),
        _op("hold", "u1", "h", now - 50 * DAY, account="main", amount="10"),
        _op(
            "transfer",
            "u1",
            "d",
            now - 45 * DAY,
            amount="30",
            **{"from": "main", "to": "trade"},
        ),
        _op("deposit", "u1", "e", now - 31 * DAY, amount="5"),
        _op("deposit", "u1", "f", now - 29 * DAY, amount="7"),
        _op("withdrawal", "u1", "g", now - DAY, amount="3"),
        _op("deposit", "u2", "a", now - 150 * DAY, amount="9"),
        _op("deposit", "u2", "b", now - 90 * DAY, amount="1.5"),
        _op("deposit", "u3", "a", now - 10 * DAY, amount="4"),
    ]
    ops += [
        _op("deposit", "u4", f"d{day}", now - day * DAY, amount=str(day))
        for day in range(60, 19, -1)
    ]
    for op in ops:
        ledger.apply(c.uow, op, c.clock)


def _entries(c: Container) -> dict[int, int]:
    with c.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT id, created_at FROM entries").all())


def _operations(c: Container) -> dict[tuple[str, str], int]:
    with c.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT uid, op_id, created_at FROM operations")
        return {(uid, op_id): at for uid, op_id, at in rows}


def _balances(c: Container) -> dict[str, tuple[Decimal, Decimal, Decimal, int]]:
    return {
        a.id: (a.balance, a.available, a.holds, a.seq) for a in c.reader.all_accounts()
    }


def _state(c: Container) -> tuple[object, ...]:
    return _entries(c), _operations(c), _balances(c)


def _verified(c: Container) -> int:
    report = verify(c.reader.all_accounts(), c.reader.entry_trail())
    assert report.ok, report.problems
    return report.entries


@pytest.fixture
def old_history(container: Container) -> Container:
    # PostgreSQL: months from 70 days ago have partitions; older rows go to DEFAULT.
    ensure_month_partitions(
        container.engine, container.clock() - 70 * DAY, container.clock()
    )
    _history(container)
    return container


def test_a_retention_dry_run_reports_and_changes_nothing(old_history):
    c = old_history
    before = _state(c)
    horizon = horizon_of(c.clock(), RETENTION_DAYS)
    old = [i for i, at in _entries(c).items() if at < horizon]
    report = survey(SqlRetentionStore(c.engine), c.clock(), RETENTION_DAYS)
    assert report.removed is None
    assert report.horizon == horizon
    # u1 main 5, u1 trade 1, u2 2, u4 30 (the one 30 days ago is on the horizon)
    assert report.expired.entries == len(old) == 38
    assert report.expired.accounts == 4
    assert report.expired.operations == 38  # u1's hold wrote no entry
    assert report.expired.oldest_entry_at == c.clock() - 200 * DAY
    assert _state(c) == before


def test_retention_deletes_exactly_what_is_older_than_the_horizon(old_history):
    c = old_history
    entries, operations, balances = _state(c)
    horizon = horizon_of(c.clock(), RETENTION_DAYS)
    months = [
        p.name
        for p in list_partitions(c.engine)
        if p.end is not None and p.end <= horizon
    ]
    store = SqlRetentionStore(c.engine)

    report = apply_retention(store, c.clock(), RETENTION_DAYS, batch=4)

    assert report.removed is not None
    assert report.removed.entries == sum(at < horizon for at in entries.values())
    assert report.removed.operations == sum(at < horizon for at in operations.values())
    assert list(report.removed.partitions) == months
    assert c.engine.dialect.name == "sqlite" or months == ["entries_y2026m07"]
    assert _entries(c) == {i: at for i, at in entries.items() if at >= horizon}
    assert _operations(c) == {k: at for k, at in operations.items() if at >= horizon}
    assert _balances(c) == balances
    assert _verified(c) == len(_entries(c))

    again = apply_retention(store, c.clock(), RETENTION_DAYS, batch=4)
    assert again.removed is not None
    assert (again.removed.entries, again.removed.operations) == (0, 0)
    assert _balances(c) == balances


def test_after_retention_accounts_keep_a_base_and_take_new_entries(old_history):
    c = old_history
    apply_retention(SqlRetentionStore(c.engine), c.clock(), RETENTION_DAYS)
    [u2] = c.reader.accounts("u2")
    assert (u2.base_seq, u2.base_balance, u2.seq, u2.balance) == (
        2,
        Decimal("10.5"),
        2,
        Decimal("10.5"),
    )
    [u3] = c.reader.accounts("u3")
    assert (u3.base_seq, u3.base_balance) == (0, Decimal(0))
    for uid in ("u1", "u2", "u4"):
        ledger.apply(c.uow, _op("deposit", uid, "new", c.clock(), amount="1"), c.clock)
    assert [e.seq for e in c.reader.entries("u2")] == [3]
    _verified(c)


def test_verify_reports_entries_missing_without_a_base(old_history):
    c = old_history
    with c.engine.begin() as conn:
        conn.exec_driver_sql(
            f"DELETE FROM entries WHERE created_at < {horizon_of(c.clock(), 30)}"
        )
    report = verify(c.reader.all_accounts(), c.reader.entry_trail())
    assert not report.ok
