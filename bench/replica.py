"""ledger-replica: the signed ledger page on a PostgreSQL primary with one
streaming replica (KULEDGER_READ_DATABASE_URLS), 2 workers, beside the same
run on the primary alone.

Both clusters are started for the run on this machine (tests.support.pg_cluster:
`pg_basebackup -R`, small and unsynced), and seeded anew, so the figure is not
comparable with ledger-postgres's database. On a 2-core machine the replica,
the primary, wrk and both workers share the cores: the figure shows that
reads are routed to the replica under load (the share of reads it served is
measured from /metrics), not the capacity a replica adds on its own machine.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from tests.support.pg_cluster import PgPair, find_binaries

from bench import harness

WORKERS = 2


@contextmanager
def _redis(workdir: Path) -> Iterator[str]:
    """A redis-server of the run's own (replicas need one)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError(
            "redis-server is not installed (apt-get install redis-server)"
        )
    port = harness.free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(timeout=10)


def _replica_reads(monitor: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{monitor}/metrics", timeout=10).text
    reads = {}
    for line in text.splitlines():
        if line.startswith("kuledger_database_reads_total{"):
            target = line.split('target="', 1)[1].split('"', 1)[0]
            reads[target] = float(line.rsplit(" ", 1)[1])
    return reads


def ledger_replica(entries: int, users: int, seconds: int, connections: int) -> Any:
    """Requests/s and p99 of the ledger page with and without the replica."""
    from bench.scenarios import DAYS, signed_requests

    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL server binaries not found (initdb, pg_ctl)")
    harness.CACHE.mkdir(parents=True, exist_ok=True)  # wrk's scripts go there
    pair = PgPair.start(binaries)
    workdir = Path(tempfile.mkdtemp(prefix="kuledger-bench-replica-"))
    try:
        primary, replica = pair.create_database("kuledger_bench_replica")
        harness._seed(primary, users, entries, DAYS, 1)
        keys = harness._create_keys(primary, users, 1, 40)
        pair.caught_up(timeout=600)
        data = harness.Seeded(primary, users, entries, DAYS, 1, keys)
        signed = signed_requests(data, 20_000)
        runs: dict[str, dict[str, Any]] = {}
        with _redis(workdir) as redis_url:
            for name, extra in (
                ("primary only", {}),
                ("with replica", {"KULEDGER_READ_DATABASE_URLS": replica}),
            ):
                monitor, port = harness.free_port(), harness.free_port()
                env = harness.base_env(
                    primary,
                    KULEDGER_REDIS_URL=redis_url,
                    KULEDGER_MONITOR_PORT=str(monitor),
                    **extra,
                )
                command = harness.kuledger_server(env, port, WORKERS)
                with harness.server(command, env, port):
                    url = f"http://127.0.0.1:{port}"
                    harness.wrk(url, signed[:2000], connections=connections, seconds=2)
                    run = harness.wrk(
                        url, signed, connections=connections, seconds=seconds
                    )
                    run["reads"] = _replica_reads(monitor)
                runs[name] = run
    finally:
        pair.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    measured, base = runs["with replica"], runs["primary only"]
    reads = measured.pop("reads")
    base.pop("reads")
    served = reads.get("replica1", 0.0)
    measured["replica_share"] = round(served / max(sum(reads.values()), 1.0), 3)
    return {
        "scenario": f"ledger-replica (postgres + 1 streaming replica, {entries:,} "
        f"entries, {WORKERS} workers; baseline: the same without the replica; "
        "on 2 cores the replica shares them)",
        "measured": measured,
        "baseline": base,
        "ratio": round(measured["rps"] / base["rps"], 3) if base["rps"] else None,
        "target": "no errors; reads served by the replica",
        "met": measured["errors"] == 0 and served > 0,
    }
