"""RedisLimiter decides exactly like MemoryLimiter, atomically across clients,
and reports an unreachable Redis as LimiterUnavailable until it is back."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from kuledger.services.ratelimit import LimiterUnavailable, MemoryLimiter
from kuledger.storage.redis_limiter import RedisLimiter
from tests.system.processes import RedisServer, wait_for
from tests.unit.test_memory_limiter import EXPECTED, SCENARIO

# Longer than the unit test's 300 ms: real time passes here, and a loaded
# machine must not end a window in the middle of the scenario.
WINDOW_MS = 1000

pytestmark = pytest.mark.redis


def _now() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def limiter(private_redis: RedisServer):
    limiter = RedisLimiter(private_redis.url, WINDOW_MS)
    yield limiter
    limiter.close()


def test_redis_and_memory_limiters_decide_the_same(limiter):
    memory = MemoryLimiter(WINDOW_MS)
    pairs = []
    for step in SCENARIO:
        if isinstance(step, str):  # "sleep"
            time.sleep((WINDOW_MS + 50) / 1000)
            continue
        bucket, weight, quota = step
        now = _now()
        pairs.append(
            (
                limiter.hit(bucket, weight, quota, now),
                memory.hit(bucket, weight, quota, now),
            )
        )
    shared = [(d.allowed, d.limit, d.remaining) for d, _ in pairs]
    local = [(d.allowed, d.limit, d.remaining) for _, d in pairs]
    assert shared == local == list(EXPECTED)
    for from_redis, from_memory in pairs:
        # Redis times the window with its own clock: close, not equal.
        assert 0 < from_redis.reset_ms <= WINDOW_MS
        assert abs(from_redis.reset_ms - from_memory.reset_ms) <= 250


def test_buckets_expire_with_the_window_and_refusals_write_nothing(private_redis):
    limiter = RedisLimiter(private_redis.url, 300)
    client = redis.Redis.from_url(private_redis.url)
    try:
        assert not limiter.hit("heavy", 11, 10, 0).allowed
        assert client.keys("*") == []
        limiter.hit("Management:u1", 2, 10, 0)
        assert client.get("kuledger:rl:Management:u1") == b"2"
        assert 0 < client.pttl("kuledger:rl:Management:u1") <= 300
        assert wait_for(lambda: client.keys("*") == [], timeout=2, interval=0.05)
    finally:
        client.close()
        limiter.close()


def test_concurrent_hits_never_admit_more_than_the_quota(private_redis):
    quota, weight, threads, hits = 100, 3, 8, 20
    admitted: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        own = RedisLimiter(private_redis.url, 30_000)  # a client per "server"
        try:
            for _ in range(hits):
                decision = own.hit("shared", weight, quota, 0)
                if decision.allowed:
                    with lock:
                        admitted.append(decision.remaining)
        finally:
            own.close()

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(admitted, reverse=True) == list(range(97, -1, -3))


def test_unreachable_redis_raises_promptly_and_recovers(limiter, private_redis):
    assert limiter.hit("a", 1, 10, 0).remaining == 9
    private_redis.kill()
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(LimiterUnavailable):
            limiter.hit("a", 1, 10, 0)
        assert time.monotonic() - started < 2, "a down Redis must fail fast"
    private_redis.start()

    def answers() -> bool:
        try:
            limiter.hit("b", 1, 10, 0)
        except LimiterUnavailable:
            return False
        return True

    assert wait_for(answers, timeout=5)
    # The restarted Redis is empty (nothing saved): a's window starts afresh.
    assert limiter.hit("a", 1, 10, 0).remaining == 9
