"""When the shared limiter's Redis dies: fail closed (503000) or open (admit),
never crash, and recover by itself once Redis is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import LiveServer, live_server
from tests.system.processes import LEDGER, RedisServer, add_users, wait_for

pytestmark = pytest.mark.redis

LIMIT_HEADERS = ("gw-ratelimit-limit", "gw-ratelimit-remaining", "gw-ratelimit-reset")


def _env(redis_url: str, mode: str) -> dict[str, str]:
    return {
        "KULEDGER_REDIS_URL": redis_url,
        "KULEDGER_RATELIMIT_ON_REDIS_ERROR": mode,
    }


def _code(response: httpx.Response) -> str:
    return str(response.json()["code"])


def _timed(call: Callable[[], httpx.Response], limit: float = 5.0) -> httpx.Response:
    started = time.monotonic()
    response = call()
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"took {elapsed:.1f}s while Redis was down"
    return response


def test_fail_closed_answers_503000_and_recovers(
    sqlite_url: str, tmp_path: Path, private_redis: RedisServer
):
    with live_server(
        sqlite_url, tmp_path, extra_env=_env(private_redis.url, "closed")
    ) as server:
        (user,) = add_users(server, "closed")
        before = server.signed(user, "GET", LEDGER)
        assert (before.status_code, _code(before)) == (200, "200000")
        assert before.headers["gw-ratelimit-remaining"] == "1998"

        private_redis.kill()
        for _ in range(3):
            down = _timed(lambda: server.signed(user, "GET", LEDGER))
            assert down.status_code == 503, down.text
            body = down.json()
            assert body["code"] == "503000"
            assert isinstance(body["msg"], str) and body["msg"]
            assert not any(name in down.headers for name in LIMIT_HEADERS)
        public = _timed(lambda: httpx.get(server.base_url + "/api/v1/timestamp"))
        assert (public.status_code, _code(public)) == (503, "503000")
        _still_enveloped(server, user)
        assert server.process.poll() is None, "the server must survive"
        assert "rate limiter unreachable" in server.log()
        assert "answering 503000" in server.log()

        private_redis.start()
        assert wait_for(
            lambda: server.signed(user, "GET", LEDGER).status_code == 200, timeout=10
        ), "requests still refused 10 s after Redis came back"
        after = server.signed(user, "GET", LEDGER)
        assert _code(after) == "200000"
        # Nothing was saved: the restarted Redis starts a new window.
        assert int(after.headers["gw-ratelimit-remaining"]) >= 1994
        timestamp = httpx.get(server.base_url + "/api/v1/timestamp")
        assert _code(timestamp) == "200000"
        assert server.process.poll() is None


def test_fail_open_admits_without_headers_while_redis_is_down(
    sqlite_url: str, tmp_path: Path, private_redis: RedisServer
):
    def signed_ledger() -> httpx.Response:
        return _timed(lambda: server.signed(user, "GET", LEDGER))

    def limited() -> bool:
        return "gw-ratelimit-limit" in signed_ledger().headers

    private_redis.kill()  # Redis is not up yet when the server starts
    with live_server(
        sqlite_url, tmp_path, extra_env=_env(private_redis.url, "open")
    ) as server:
        (user,) = add_users(server, "open")
        for outage in range(2):
            for _ in range(5):
                admitted = signed_ledger()
                assert (admitted.status_code, _code(admitted)) == (200, "200000")
                assert not any(name in admitted.headers for name in LIMIT_HEADERS)
            public = _timed(lambda: httpx.get(server.base_url + "/api/v1/timestamp"))
            assert (public.status_code, _code(public)) == (200, "200000")
            assert "rate limiter unreachable" in server.log()
            assert "admitting requests" in server.log()

            private_redis.start()
            assert wait_for(limited, timeout=10), (
                f"limiting did not resume 10 s after Redis came back ({outage})"
            )
            resumed = signed_ledger()
            assert resumed.json()["code"] == "200000"
            assert int(resumed.headers["gw-ratelimit-remaining"]) < 2000
            private_redis.kill()  # the second outage hits a pooled connection
        assert server.process.poll() is None


def _still_enveloped(server: LiveServer, user) -> None:
    """Failures decided before the limiter still get their own envelopes."""
    missing = httpx.get(server.base_url + "/api/v1/no-such-path")
    assert (missing.status_code, _code(missing)) == (404, "404000")
    unsigned = httpx.get(server.base_url + LEDGER)
    assert (unsigned.status_code, _code(unsigned)) == (400, "400001")
    stale = server.signed(user, "GET", LEDGER, timestamp=1)
    assert (stale.status_code, _code(stale)) == (400, "400002")
