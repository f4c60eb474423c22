"""Group commit against one transaction per operation, in process.

    python -m bench.group_commit [--engines sqlite,postgres] [--threads 32]
                                 [--seconds 5] [--wait-us 1000]

N caller threads post single transfers (main <-> trade, so they never run
dry) for a fixed time, half of them on one hot account pair, the others each
on its own user; first through `direct_writer` (one transaction per
operation, the write pool as large as the thread count), then through
`GroupCommitWriter` (the server's default), each on a fresh database. Prints
ops/s, p50/p99 latency, and for group commit the mean batch size. PostgreSQL
uses KULEDGER_BENCH_POSTGRES_URL's server (a database `kuledger_bench_gc`,
dropped and created each run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from bench.harness import POSTGRES_ADMIN, SECRET_KEY
from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.errors import LedgerError
from kuledger.services import ledger, users
from kuledger.services.group_commit import GroupCommitWriter
from kuledger.services.operator import Writer, direct_writer
from kuledger.storage import migrate

SEED = "1000000000"


def _fresh_database(engine: str, workdir: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{workdir / 'gc.db'}"
    name = "kuledger_bench_gc"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _prepare(container: Container, uids: Sequence[str]) -> None:
    migrate.upgrade(container.engine)
    for uid in uids:
        users.create_user(container.uow, container.clock, uid=uid)
    ledger.apply_batch(
        container.uow,
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": f"seed-{uid}-{account}",
                "currency": "USDT",
                "amount": SEED,
                "account": account,
            }
            for uid in uids
            for account in ("main", "trade")
        ],
        container.clock,
    )


def _drive(write: Writer, threads: int, seconds: float) -> tuple[int, list[float]]:
    """(operations applied, latencies in ms) of `threads` callers."""
    stop = threading.Event()
    start = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures: list[object] = []

    def caller(index: int) -> None:
        uid = "hot" if index % 2 == 0 else f"u{index}"
        start.wait()
        n = 0
        while not stop.is_set():
            source, target = ("main", "trade") if n % 2 else ("trade", "main")
            payload = {
                "op": "transfer",
                "uid": uid,
                "id": f"t{index}-{n}",
                "currency": "USDT",
                "amount": "1.5",
                "from": source,
                "to": target,
            }
            began = time.perf_counter()
            [outcome] = write([payload], False)
            latencies[index].append((time.perf_counter() - began) * 1000)
            if isinstance(outcome, LedgerError):
                failures.append(outcome)
            n += 1

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"{len(failures)} refused, e.g. {failures[0]}")
    flat = [ms for per in latencies for ms in per]
    return len(flat), flat


def run(engine: str, mode: str, threads: int, seconds: float, wait_us: int) -> str:
    with tempfile.TemporaryDirectory() as workdir:
        url = _fresh_database(engine, Path(workdir))
        settings = Settings.from_env(
            {}, database_url=url, secret_key=SECRET_KEY, pool_size=threads
        )
        container = Container(settings)
        try:
            _prepare(container, ["hot", *(f"u{i}" for i in range(1, threads, 2))])
            write: Writer
            group = None
            if mode == "direct":
                write = direct_writer(container.uow, container.clock)
            else:
                group = GroupCommitWriter(
                    container.uow, container.clock, max_wait=wait_us / 1e6
                )
                write = group
            ops, latencies = _drive(write, threads, seconds)
        finally:
            container.close()
    cuts = statistics.quantiles(latencies, n=100)
    batch = f"{group.operations / group.batches:.1f}" if group else "1"
    return (
        f"| {engine} | {mode} | {threads} | {ops / seconds:,.0f} | "
        f"{cuts[49]:.1f} | {cuts[98]:.1f} | {batch} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--wait-us", type=int, default=1000)
    args = parser.parse_args()
    print("| engine | writer | threads | ops/s | p50 ms | p99 ms | ops/batch |")
    print("|---|---|---|---|---|---|---|")
    for engine in args.engines.split(","):
        for mode in ("direct", "group"):
            print(
                run(engine, mode, args.threads, args.seconds, args.wait_us),
                flush=True,
            )


if __name__ == "__main__":
    main()
