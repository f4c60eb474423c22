"""`kuledger serve --workers 2`: both workers answer, and share one quota."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.server import live_server
from tests.system.processes import (
    LEDGER,
    RedisServer,
    add_users,
    connections_by_process,
    signed_concurrently,
    wait_for,
    worker_pids,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

QUOTA = 200  # Management; the ledger endpoint weighs 2: 100 requests


@pytest.mark.slow
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds workers through /proc"
)
def test_workers(postgres_url: str, tmp_path: Path, private_redis: RedisServer):
    env = {
        "KULEDGER_REDIS_URL": private_redis.url,
        "KULEDGER_RATELIMIT_QUOTAS": f"Management={QUOTA}",
    }
    with live_server(postgres_url, tmp_path, extra_env=env, workers=2) as server:
        assert wait_for(lambda: len(worker_pids(server.process.pid)) == 2, 10)
        workers = worker_pids(server.process.pid)

        answered: Counter[int] = Counter()
        for _ in range(5):  # rounds, until both workers have answered
            answered += _answering_workers(server.base_url, workers)
            if set(answered) == set(workers):
                break
        assert set(answered) == set(workers), f"answers per worker: {answered}"

        # 150 concurrent requests over new connections: exactly 100 admitted,
        # each with its own step of one countdown, whichever worker served it.
        (user,) = add_users(server, "workers")
        responses = signed_concurrently(
            [server], user, LEDGER, threads=6, per_thread=25
        )
        codes = Counter(r.json()["code"] for r in responses)
        assert codes == {"200000": 100, "429000": 50}
        remaining = sorted(
            int(r.headers["gw-ratelimit-remaining"])
            for r in responses
            if r.status_code == 200
        )
        assert remaining == list(range(0, QUOTA - 1, 2))
        assert all(
            r.headers["gw-ratelimit-remaining"] == "0"
            for r in responses
            if r.status_code == 429
        )
        assert server.process.poll() is None
        assert all(Path(f"/proc/{pid}").exists() for pid in workers)


def _answering_workers(base_url: str, workers: list[int]) -> Counter[int]:
    """Open ten connections, one request answered on each, and count which
    worker process holds each of them."""
    port = int(base_url.rsplit(":", 1)[1])
    clients = [httpx.Client(base_url=base_url) for _ in range(10)]
    try:
        for client in clients:
            assert client.get("/api/v1/timestamp").json()["code"] == "200000"
        owners = connections_by_process(workers, port)
    finally:
        for client in clients:
            client.close()
    assert sum(owners.values()) == len(clients)
    return owners
