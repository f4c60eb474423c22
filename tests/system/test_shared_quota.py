"""One Redis, many servers: a user's pool is one quota wherever requests land."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.system.processes import (
    LEDGER,
    RedisServer,
    add_users,
    live_servers,
    signed_concurrently,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

QUOTA = 200  # Management; the ledger endpoint weighs 2: 100 requests
ADMITTED = QUOTA // 2


def _env(redis_url: str) -> dict[str, str]:
    return {
        "KULEDGER_REDIS_URL": redis_url,
        "KULEDGER_RATELIMIT_QUOTAS": f"Management={QUOTA}",
    }


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"code": "429000", "msg": "Too Many Requests"}
    assert response.headers["gw-ratelimit-remaining"] == "0"
    assert response.headers["gw-ratelimit-limit"] == str(QUOTA)


@pytest.mark.slow  # seconds of real waiting: the full suite runs it
def test_shared_quota(postgres_url: str, tmp_path: Path, private_redis: RedisServer):
    with live_servers(
        postgres_url, tmp_path, 2, extra_env=_env(private_redis.url)
    ) as servers:
        user, other, racer = add_users(servers[0], "shared", "other", "racer")
        remaining: list[tuple[int, int]] = []  # (server index, header)
        for turn in range(ADMITTED):
            index = turn % 2
            response = servers[index].signed(user, "GET", LEDGER)
            assert response.status_code == 200, (turn, response.text)
            assert response.json()["code"] == "200000"
            assert response.headers["gw-ratelimit-limit"] == str(QUOTA)
            remaining.append((index, int(response.headers["gw-ratelimit-remaining"])))
        # One countdown across both servers, each step seen by the other server.
        assert [r for _, r in remaining] == list(range(QUOTA - 2, -1, -2))
        assert Counter(index for index, _ in remaining) == {0: 50, 1: 50}
        for server in servers * 2:
            _assert_refused(server.signed(user, "GET", LEDGER))
        # Another user's pool is untouched on either server.
        for server in servers:
            fresh = server.signed(other, "GET", LEDGER)
            assert fresh.json()["code"] == "200000"
        assert fresh.headers["gw-ratelimit-remaining"] == str(QUOTA - 4)

        # Concurrently, from six threads over both servers: still exactly 100.
        responses = signed_concurrently(
            servers, racer, LEDGER, threads=6, per_thread=25
        )
        assert Counter(r.json()["code"] for r in responses) == {
            "200000": ADMITTED,
            "429000": 150 - ADMITTED,
        }
        assert sorted(
            int(r.headers["gw-ratelimit-remaining"])
            for r in responses
            if r.status_code == 200
        ) == list(range(0, QUOTA - 1, 2))
