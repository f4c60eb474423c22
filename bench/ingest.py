"""Ingestion: the service layer's bulk path and `kuledger post --file` vs raw
executemany of the same rows, and single-operation commits from 16 writers
(PostgreSQL, one hot account)."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from bench import harness
from bench.harness import CACHE, END_AT, POSTGRES_ADMIN, SECRET_KEY
from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import User
from kuledger.services import ledger
from kuledger.services.seed import SeedPlan
from kuledger.services.seed import batches as seed_batches
from kuledger.storage import migrate

BATCH = 2_000
COLUMNS = (
    "id, uid, account_id, account_type, currency, amount, fee, balance, "
    "direction, biz_code, created_at, context, seq, book, hash, op_uid, op_id"
)


@contextmanager
def fresh_database(engine: str, tag: str = "ingest") -> Iterator[str]:
    """An empty database of `engine` for one measurement, removed after it."""
    if engine == "sqlite":
        CACHE.mkdir(parents=True, exist_ok=True)
        path = CACHE / f"{tag}-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in CACHE.glob(path.name + "*"):
                leftover.unlink()
        return
    name = f"kuledger_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _container(url: str) -> Container:
    container = Container(
        Settings.from_env({}, database_url=url, secret_key=SECRET_KEY)
    )
    migrate.upgrade(container.engine)
    return container


def _payloads(plan: SeedPlan) -> list[list[dict[str, Any]]]:
    return [batch for batch, _ in seed_batches(plan, BATCH)]


def _add_users(c: Container, plan: SeedPlan) -> None:
    with c.uow() as uow:
        for i in range(plan.users):
            uow.users.add(User(plan.uid(i), created_at=END_AT))
        uow.commit()


def _written_rows(c: Container) -> list[tuple[Any, ...]]:
    with c.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(f"SELECT {COLUMNS} FROM entries ORDER BY id")
        ]


def compare(engine: str, entries: int) -> dict[str, Any]:
    """`ledger.apply_batch` (2,000 operations a call) vs raw executemany."""
    plan = SeedPlan(200, entries, 30, 5, END_AT)
    batches = _payloads(plan)
    with fresh_database(engine) as url:
        c = _container(url)
        _add_users(c, plan)
        with harness.profiled(os.getpid(), f"ingest-{engine}") as profile:
            began = time.perf_counter()
            for batch in batches:
                ledger.apply_batch(c.uow, batch, c.clock)
            service_seconds = time.perf_counter() - began
        rows = _written_rows(c)
        c.close()
    return _against_raw(
        f"ingestion, bulk path ({engine}",
        engine,
        rows,
        batches,
        service_seconds,
        profile,
    )


def post_file(engine: str, entries: int) -> dict[str, Any]:
    """`kuledger post --file` of the same operations as JSON lines (the whole
    command: start-up, reading, one result line out per operation) vs raw
    executemany of the entry rows it wrote."""
    plan = SeedPlan(200, entries, 30, 5, END_AT)
    batches = _payloads(plan)
    with fresh_database(engine) as url:
        c = _container(url)
        _add_users(c, plan)
        source = CACHE / f"post-{uuid.uuid4().hex[:8]}.jsonl"
        try:
            with source.open("w") as out:
                for batch in batches:
                    out.writelines(json.dumps(op) + "\n" for op in batch)
            began = time.perf_counter()
            harness.kuledger(harness.base_env(url), "post", "--file", str(source))
            command_seconds = time.perf_counter() - began
        finally:
            source.unlink(missing_ok=True)
        rows = _written_rows(c)
        c.close()
    return _against_raw(
        f"kuledger post --file ({engine}", engine, rows, batches, command_seconds, {}
    )


def _against_raw(
    title: str,
    engine: str,
    rows: list[tuple[Any, ...]],
    batches: list[list[dict[str, Any]]],
    seconds: float,
    profile: dict[str, Any],
) -> dict[str, Any]:
    """The result row: `rows` written in `seconds`, beside raw executemany of
    the same rows into a fresh database of the same engine."""
    with fresh_database(engine) as raw_url:
        raw = _container(raw_url)
        raw_seconds = _raw_insert(raw, rows)
        raw.close()
    operations = sum(map(len, batches))
    measured = len(rows) / seconds
    baseline = len(rows) / raw_seconds
    target_met = measured >= 0.5 * baseline and (
        engine != "sqlite" or measured >= 50_000
    )
    return {
        "scenario": f"{title}, {len(rows):,} entries, {operations:,} operations)",
        "measured": {
            "entries_per_s": round(measured),
            "ops_per_s": round(operations / seconds),
        },
        "baseline": {"raw_executemany_entries_per_s": round(baseline)},
        "ratio": round(measured / baseline, 3),
        "target": "≥ 0.5 of raw"
        + (", ≥ 50,000 entries/s" if engine == "sqlite" else ""),
        "met": target_met,
        **({"profile": profile} if profile else {}),
    }


def _raw_insert(container: Container, rows: list[tuple[Any, ...]]) -> float:
    """The same entry rows, inserted with the driver's executemany, no checks."""
    ph = "?" if container.engine.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO entries ({COLUMNS}) VALUES ({', '.join([ph] * 17)})"
    step = BATCH * 2  # about as many entries per transaction as the bulk path writes
    began = time.perf_counter()
    raw = container.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, len(rows), step):
            if container.engine.dialect.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(sql, rows[start : start + step])
            raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


def single_commits(seconds: int, writers: int = 16) -> dict[str, Any]:
    """One operation per transaction, 16 writers, half of them on one hot account."""
    with fresh_database("postgres") as url:
        c = _container(url)
        uids = [f"w{i}" for i in range(writers)] + ["hot"]
        with c.uow() as uow:
            for uid in uids:
                uow.users.add(User(uid, created_at=END_AT))
            uow.commit()
        ledger.apply_batch(
            c.uow,
            [
                {
                    "op": "deposit",
                    "uid": uid,
                    "id": f"fund-{uid}",
                    "currency": "USDT",
                    "amount": "100000000",
                }
                for uid in uids
            ],
            c.clock,
        )
        latencies: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def writer(index: int) -> None:
            uid = "hot" if index % 2 == 0 else f"w{index}"
            mine, n = [], 0
            while time.monotonic() < stop:
                n += 1
                op = {
                    "op": "transfer",
                    "uid": uid,
                    "id": f"t{index}-{n}",
                    "currency": "USDT",
                    "amount": "0.01",
                    "from": "main" if n % 2 else "trade",
                    "to": "trade" if n % 2 else "main",
                }
                began = time.perf_counter()
                ledger.apply(c.uow, op, c.clock)
                mine.append(time.perf_counter() - began)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        c.close()
    latencies.sort()
    return {
        "scenario": f"single-operation commits (postgres, {writers} writers, "
        "half on one hot account)",
        "measured": {
            "transfers_per_s": round(len(latencies) / elapsed),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        },
        "baseline": {"pgledger_published_transfers_per_s": 10_636},
        "ratio": round(len(latencies) / elapsed / 10_636, 3),
        "target": "beside pgledger's figure (M3 laptop, 20 workers: not this machine)",
        "met": None,
    }
