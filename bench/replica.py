"""ledger-replica: the signed ledger page with a streaming read replica.

On this machine, started by the scenario: a PostgreSQL primary and one
streaming replica of it (tests.support.pg_cluster.PgPair, the replica
tests' clusters: `initdb`, `pg_basebackup -R`, each on its own port). The
ledger database is seeded on the primary (`kuledger seed --copy`) and
replayed by the replica; then the ledger scenario's wrk load runs twice
against `kuledger serve --workers 2`: on the primary alone (the baseline)
and with KULEDGER_READ_DATABASE_URLS naming the replica. Both runs have the
same settings otherwise, Redis included (read replicas need it for the
users' WAL positions). Beside requests/s, p50 and p99: where the ledger
reads ran during the timed load (the workers' kuledger_database_reads on
/metrics), and each cluster's transactions over the server's life
(pg_stat_database, read after the server stopped, so its backends' counts
are flushed).

The clusters are stopped on the way out whatever happens (an error, Ctrl-C,
SIGTERM); every step has a time bound. Nothing is cached: the clusters live
for one run, so `--prepare` seeds nothing for this scenario.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.support.pg_cluster import BIN_DIRS, PgPair, find_binaries

from bench import harness, scenarios
from bench.harness import Requests, Seeded

WORKERS = 2
DATABASE = "kuledger_bench"
REDIS_URL = os.environ.get("KULEDGER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REPLAY_MAX_S = 300  # the replica replaying the seed
SETTLE_S = 1.2  # counters reach /metrics or pg_stat_database within 1 s
SETTLE_MAX_S = 15
T = TypeVar("T")
TARGET = "no errors; the replica serves ≥ half the ledger reads"


def seed_max_s(entries: int) -> float:
    """A bound on seeding: 1,000 entries/s (`seed --copy` wrote 3,300-4,500
    a second here, 2M entries, beside other sessions' load)."""
    return 300 + entries / 1_000


def run(size: scenarios.Size, entries: int) -> dict[str, Any]:
    with _cluster() as pair:
        primary_url, replica_url = pair.create_database(DATABASE)
        _say(f"primary, replica on :{pair.primary.port}, :{pair.replica.port}")
        began = time.perf_counter()
        data = harness.seeded_into(
            scenarios.ledger_dataset(size, "postgres", entries),
            primary_url,
            timeout=seed_max_s(entries),
        )
        seed_s = time.perf_counter() - began
        began = time.perf_counter()
        pair.caught_up(timeout=REPLAY_MAX_S)
        replay_s = time.perf_counter() - began
        _say(f"seeded in {seed_s:.0f} s, replayed in {replay_s:.0f} s")
        signed = scenarios.signed_requests(data, scenarios.LEDGER_REQUESTS)
        plain = scenarios.baseline_requests(signed, data)
        # The pages both runs read, in each cluster's cache and the OS's, by
        # the baseline app (it caches nothing, so kuledger's caches stay cold).
        warm = {
            "primary": _warm_pass(size, primary_url, plain),
            "replica": _warm_pass(size, replica_url, plain),
        }
        env = harness.base_env(primary_url, KULEDGER_REDIS_URL=REDIS_URL)
        _say(f"warm passes: {warm}; the primary alone")
        alone = _measure(size, pair, data, signed, env)
        _say(f"  {alone['load']}; with the replica")
        env_replica = {**env, "KULEDGER_READ_DATABASE_URLS": replica_url}
        replicated = _measure(size, pair, data, signed, env_replica)
        _say(f"  {replicated['load']}, reads {replicated['reads']}")
    result = _result(entries, alone, replicated, seed_s, replay_s, warm)
    return {**result, "cluster_root": str(pair.root)}  # (removed by now)


def _say(line: str) -> None:
    print(f"  ledger-replica: {line}", file=sys.stderr)


def _result(
    entries: int,
    alone: dict[str, Any],
    replicated: dict[str, Any],
    seed_s: float,
    replay_s: float,
    warm: dict[str, float],
) -> dict[str, Any]:
    reads = replicated["reads"]
    share = _share(reads.get("replica1", 0), sum(reads.values()))
    xacts = replicated["transactions"]
    measured = {**replicated["load"], "replica_reads_pct": share}
    base = alone["load"]
    return {
        "scenario": f"ledger replica (PostgreSQL primary + 1 streaming replica, "
        f"{entries:,} entries, {WORKERS} workers; baseline: the primary alone)",
        "measured": measured,
        "baseline": base,
        "ratio": round(measured["rps"] / base["rps"], 3) if base["rps"] else None,
        "ledger_reads": reads,  # during the timed load, by where they ran
        "transactions": {  # each cluster's, over each server's life
            "primary_alone": alone["transactions"],
            "with_replica": xacts,
            "replica_pct": _share(xacts["replica"], sum(xacts.values())),
        },
        "replica_state": replicated["replica_state"],
        "items_per_page": replicated["items_per_page"],
        "seed_s": round(seed_s, 1),
        "replay_s": round(replay_s, 1),
        "warm_pass_s": warm,
        "target": TARGET,
        "met": measured["errors"] == 0 and base["errors"] == 0 and share >= 50,
    }


def _share(part: float, whole: float) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


@contextmanager
def _cluster() -> Iterator[PgPair]:
    """A started primary and replica, stopped (and their directory removed)
    on the way out: after an error, Ctrl-C or SIGTERM too."""
    bin_dir = find_binaries()
    if bin_dir is None:
        raise RuntimeError(
            "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not "
            f"in {', '.join(BIN_DIRS)}: set KULEDGER_TEST_PG_BIN to their directory"
        )
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        pair = PgPair.start(bin_dir)  # (it stops what it started if it fails)
        try:
            yield pair
        finally:
            pair.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit(signum: int, frame: FrameType | None) -> None:
    del frame
    raise SystemExit(128 + signum)  # unwinds through the finally clauses


def _warm_pass(size: scenarios.Size, url: str, requests: Requests) -> float:
    port = harness.free_port()
    env = {**harness.base_env(url), "BENCH_DATABASE_URL": url}
    with harness.server(
        harness.baseline_server(port), env, port, "/ledger?uid=x&startAt=0&endAt=1"
    ):
        seconds = harness.wrk_pass(
            f"http://127.0.0.1:{port}",
            requests,
            connections=size.connections,
            max_seconds=scenarios.WARM_PASS_MAX_S,
        )
    return round(seconds, 1)


def _measure(
    size: scenarios.Size,
    pair: PgPair,
    data: Seeded,
    signed: Requests,
    env: dict[str, str],
) -> dict[str, Any]:
    """The ledger scenario's load on `kuledger serve --workers 2`."""
    port, monitor = harness.free_port(), harness.free_port()
    env = {**env, "KULEDGER_MONITOR_PORT": str(monitor)}
    url = f"http://127.0.0.1:{port}"
    before = _transactions(pair)
    command = harness.kuledger_server(env, port, WORKERS)
    with harness.server(command, env, port):
        items = scenarios.check_answers(url, signed[:300])
        # Other windows than the measured ones: the code paths and thread
        # pools warm, the measured requests' cached totals stay cold.
        warm_up = scenarios.signed_requests(data, 2000, seed=8)
        harness.wrk(
            url,
            warm_up,
            connections=size.connections,
            seconds=max(1, size.seconds // 5),
        )
        reads_before = _settled(lambda: _reads(monitor))
        load = harness.wrk(
            url, signed, connections=size.connections, seconds=size.seconds
        )
        reads = _settled(lambda: _reads(monitor))
        ready = httpx.get(f"http://127.0.0.1:{monitor}/readyz", timeout=10).json()
    after = _settled(lambda: _transactions(pair))  # the backends have exited
    return {
        "load": load,
        "reads": {k: int(v - reads_before.get(k, 0)) for k, v in reads.items()},
        "transactions": {k: after[k] - before[k] for k in after},
        "replica_state": {
            name: replica["state"]
            for name, replica in ready.get("replicas", {}).items()
        },
        "items_per_page": round(items / 300, 1),
    }


def _reads(monitor: int) -> dict[str, float]:
    """kuledger_database_reads_total by target, summed over the workers."""
    text = httpx.get(f"http://127.0.0.1:{monitor}/metrics", timeout=10).text
    return {
        sample.labels["target"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "kuledger_database_reads"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def _transactions(pair: PgPair) -> dict[str, int]:
    """Transactions in the bench database so far, on each cluster."""
    sql = (
        "SELECT xact_commit + xact_rollback FROM pg_stat_database "
        f"WHERE datname = '{DATABASE}'"
    )
    return {
        "primary": int(pair.primary.execute(sql)[0][0]),
        "replica": int(pair.replica.execute(sql)[0][0]),
    }


def _settled(sample: Callable[[], T]) -> T:
    """`sample()` once two readings SETTLE_S apart agree (the counters are
    flushed about once a second), or the last reading after SETTLE_MAX_S."""
    deadline = time.monotonic() + SETTLE_MAX_S
    last = sample()
    while time.monotonic() < deadline:
        time.sleep(SETTLE_S)
        now = sample()
        if now == last:
            break
        last = now
    return last
