"""MemoryLimiter: fixed windows per bucket, weights, refusals that cost nothing.

SCENARIO is also run against the RedisLimiter (tests/system/
test_redis_limiter.py), which must decide exactly the same way.
"""

from __future__ import annotations

import pytest

from kuledger.services.ratelimit import Decision, MemoryLimiter, quota_for

WINDOW_MS = 300

# (bucket, weight, quota) hits; "sleep" steps move past the window.
Hit = tuple[str, int, int]
SCENARIO: tuple[Hit | str, ...] = (
    ("a", 3, 10),  # the first hit opens a's window
    ("a", 3, 10),
    ("a", 5, 10),  # 4 left: refused, and it consumes nothing
    ("a", 4, 10),  # exactly what is left
    ("a", 1, 10),  # empty: refused
    ("a", 1, 10),  # refusals never pile up
    ("b", 10, 10),  # another bucket has its own quota
    ("c", 11, 10),  # heavier than the whole quota: refused, window not opened
    ("c", 2, 10),
    ("a", 5, 20),  # a higher quota (VIP upgrade) counts what was used
    ("a", 6, 20),
    "sleep",
    ("a", 2, 10),  # a fresh window: the quota is whole again
    ("b", 10, 10),
    ("c", 10, 10),
    ("c", 1, 10),
)

# (allowed, limit, remaining) for each hit of SCENARIO, in order.
EXPECTED: tuple[tuple[bool, int, int], ...] = (
    (True, 10, 7),
    (True, 10, 4),
    (False, 10, 4),
    (True, 10, 0),
    (False, 10, 0),
    (False, 10, 0),
    (True, 10, 0),
    (False, 10, 10),
    (True, 10, 8),
    (True, 20, 5),
    (False, 20, 5),
    (True, 10, 8),
    (True, 10, 0),
    (True, 10, 0),
    (False, 10, 0),
)


def run_scenario(limiter: MemoryLimiter, start: int) -> list[Decision]:
    """SCENARIO with a clock that only moves at "sleep" (1 ms per hit)."""
    now, decisions = start, []
    for step in SCENARIO:
        if isinstance(step, str):  # "sleep"
            now += WINDOW_MS
            continue
        bucket, weight, quota = step
        decisions.append(limiter.hit(bucket, weight, quota, now))
        now += 1
    return decisions


def test_the_scenario_gives_the_expected_decisions():
    decisions = run_scenario(MemoryLimiter(WINDOW_MS), start=1_000_000)
    assert [(d.allowed, d.limit, d.remaining) for d in decisions] == list(EXPECTED)
    for decision in decisions:
        assert 0 < decision.reset_ms <= WINDOW_MS


def test_reset_counts_down_from_the_first_hit_of_the_window():
    limiter = MemoryLimiter(WINDOW_MS)
    assert limiter.hit("a", 1, 10, 5_000).reset_ms == WINDOW_MS
    assert limiter.hit("a", 1, 10, 5_100).reset_ms == WINDOW_MS - 100
    refused = limiter.hit("a", 20, 10, 5_299)
    assert (refused.allowed, refused.remaining, refused.reset_ms) == (False, 8, 1)


def test_the_window_ends_exactly_window_ms_after_its_first_hit():
    limiter = MemoryLimiter(WINDOW_MS)
    assert limiter.hit("a", 10, 10, 0).remaining == 0
    assert not limiter.hit("a", 1, 10, WINDOW_MS - 1).allowed
    fresh = limiter.hit("a", 1, 10, WINDOW_MS)
    assert (fresh.allowed, fresh.remaining, fresh.reset_ms) == (True, 9, WINDOW_MS)


def test_a_refused_first_hit_does_not_open_a_window():
    limiter = MemoryLimiter(WINDOW_MS)
    assert not limiter.hit("a", 11, 10, 0).allowed
    # Had the refusal opened a window at 0, this would start a new one at 300.
    limiter.hit("a", 1, 10, 200)
    assert limiter.hit("a", 1, 10, 300).remaining == 8


def test_expired_buckets_are_evicted_when_there_are_too_many():
    limiter = MemoryLimiter(WINDOW_MS)
    for index in range(100_000):
        limiter.hit(f"old{index}", 1, 10, 0)
    limiter.hit("live", 4, 10, 100)  # nothing expired yet: all kept
    limiter.hit("new", 1, 10, WINDOW_MS + 1)  # now the old ones are gone
    assert len(limiter._buckets) == 2  # "live" (100..400) is still running
    assert limiter.hit("live", 1, 10, WINDOW_MS + 2).remaining == 10 - 4 - 1
    assert limiter.hit("new", 1, 10, WINDOW_MS + 3).remaining == 8


@pytest.mark.parametrize(
    ("pool", "vip", "overrides", "quota"),
    [
        ("Management", 0, {}, 2000),
        ("Management", 5, {}, 7000),
        ("Spot", 12, {}, 40000),
        ("Spot", 99, {}, 40000),
        ("Public", 3, {}, 2000),
        ("Management", 5, {"Management": 200}, 200),
    ],
)
def test_quota_for(pool, vip, overrides, quota):
    assert quota_for(pool, vip, overrides) == quota
