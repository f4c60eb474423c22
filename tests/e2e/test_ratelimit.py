"""KuCoin rate limiting 2.0 through HTTP: pools, weights, windows, headers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.inprocess import InProcessServer, in_process_server

LEDGER = "/api/v1/accounts/ledgers"


@pytest.fixture
def limited(sqlite_url: str, tmp_path: Path) -> Iterator[InProcessServer]:
    with in_process_server(sqlite_url, tmp_path) as running:
        yield running


def _remaining(response: httpx.Response) -> int:
    return int(response.headers["gw-ratelimit-remaining"])


def test_vip0_gets_exactly_1000_ledger_requests_then_429(limited):
    user = limited.add_user("vip0")
    remaining = []
    for _ in range(1000):
        response = limited.signed(user, "GET", LEDGER)
        assert response.status_code == 200, response.text
        assert response.json()["code"] == "200000"
        assert response.headers["gw-ratelimit-limit"] == "2000"
        remaining.append(_remaining(response))
    assert remaining == list(range(1998, -1, -2))
    refused = limited.signed(user, "GET", LEDGER)
    assert refused.status_code == 429
    assert refused.json() == {"code": "429000", "msg": "Too Many Requests"}
    assert refused.headers["gw-ratelimit-remaining"] == "0"
    assert 0 < int(refused.headers["gw-ratelimit-reset"]) <= 30_000


def test_two_users_do_not_share_a_quota_and_vip5_has_more(limited):
    alice = limited.add_user("alice")
    bob = limited.add_user("bob", vip=5)
    first = limited.signed(alice, "GET", "/api/v1/accounts")
    assert (first.headers["gw-ratelimit-limit"], _remaining(first)) == ("2000", 1995)
    other = limited.signed(bob, "GET", "/api/v1/accounts")
    assert (other.headers["gw-ratelimit-limit"], _remaining(other)) == ("7000", 6995)
    assert _remaining(limited.signed(alice, "GET", LEDGER)) == 1993


def test_public_pool_counts_per_client_ip(limited):
    first = limited.http.get(limited.base_url + "/api/v1/timestamp")
    second = limited.http.get(limited.base_url + "/api/v1/status")
    assert first.headers["gw-ratelimit-limit"] == "2000"
    assert _remaining(first) - _remaining(second) == 3


def test_a_refused_request_does_no_database_work(sqlite_url, tmp_path):
    env = {"KULEDGER_RATELIMIT_QUOTAS": "Management=4"}
    with in_process_server(sqlite_url, tmp_path, extra_env=env) as server:
        user = server.add_user("carol")
        assert server.signed(user, "GET", LEDGER).status_code == 200
        assert server.signed(user, "GET", LEDGER).status_code == 200
        # Break the ledger's table: only a request that reaches the query fails.
        import sqlite3

        path = sqlite_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE entries RENAME TO entries_gone")
        refused = server.signed(user, "GET", LEDGER)
        assert refused.status_code == 429
        assert refused.json()["code"] == "429000"


def test_the_window_resets(sqlite_url, tmp_path):
    env = {
        "KULEDGER_RATELIMIT_WINDOW_MS": "1500",
        "KULEDGER_RATELIMIT_QUOTAS": "Management=4",
    }
    with in_process_server(sqlite_url, tmp_path, extra_env=env) as server:
        user = server.add_user("dave")
        assert [server.signed(user, "GET", LEDGER).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        time.sleep(1.6)
        again = server.signed(user, "GET", LEDGER)
        assert again.status_code == 200
        assert _remaining(again) == 2


def test_limiting_can_be_turned_off(sqlite_url, tmp_path):
    env = {"KULEDGER_RATELIMIT": "off"}
    with in_process_server(sqlite_url, tmp_path, extra_env=env) as server:
        user = server.add_user("erin")
        response = server.signed(user, "GET", LEDGER)
        assert response.status_code == 200
        assert "gw-ratelimit-limit" not in response.headers


def test_weights_are_configurable(sqlite_url, tmp_path):
    env = {"KULEDGER_RATELIMIT_WEIGHTS": f"GET {LEDGER}=7"}
    with in_process_server(sqlite_url, tmp_path, extra_env=env) as server:
        user = server.add_user("fred")
        assert _remaining(server.signed(user, "GET", LEDGER)) == 1993
