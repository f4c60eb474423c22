"""RateLimitPolicy.charge: one call deducts a weight from a subject's share of
a pool and answers the gw-ratelimit-* headers, RateLimited, or (the limiter
unreachable) nothing when failing open and LimiterDown when failing closed."""

from __future__ import annotations

import pytest

from kuledger.http.rate_policy import LimiterDown, RateLimited, RateLimitPolicy
from kuledger.services.ratelimit import (
    WINDOW_MS,
    Decision,
    LimiterUnavailable,
    MemoryLimiter,
)


class DownLimiter:
    def hit(self, bucket: str, weight: int, quota: int, now: int) -> Decision:
        raise LimiterUnavailable("connection refused")


def _policy(limiter=None, *, fail_open=False, quotas=None, weights=None):
    return RateLimitPolicy(
        limiter or MemoryLimiter(), quotas or {}, weights or {}, fail_open
    )


def _remaining(policy: RateLimitPolicy, pool: str, weight: int, subject: str) -> str:
    return policy.charge(pool, weight, subject, 0, 0)["gw-ratelimit-remaining"]


def test_a_charge_answers_the_pools_headers():
    policy = _policy(quotas={"Spot": 10})
    assert policy.charge("Spot", 3, "alice", 0, 1_000) == {
        "gw-ratelimit-limit": "10",
        "gw-ratelimit-remaining": "7",
        "gw-ratelimit-reset": str(WINDOW_MS),
    }
    headers = policy.charge("Spot", 2, "alice", 0, 1_100)
    assert headers["gw-ratelimit-remaining"] == "5"
    assert headers["gw-ratelimit-reset"] == str(WINDOW_MS - 100)


def test_each_subject_and_pool_has_its_own_share():
    policy = _policy(quotas={"Spot": 10, "Management": 10})
    policy.charge("Spot", 10, "alice", 0, 0)
    assert _remaining(policy, "Spot", 1, "bob") == "9"
    assert _remaining(policy, "Management", 1, "alice") == "9"


def test_the_vip_level_picks_the_quota():
    policy = _policy()
    assert policy.charge("Spot", 1, "alice", 0, 0)["gw-ratelimit-limit"] == "4000"
    assert policy.charge("Spot", 1, "vip", 12, 0)["gw-ratelimit-limit"] == "40000"


def test_too_heavy_a_charge_is_refused_and_costs_nothing():
    policy = _policy(quotas={"Public": 5})
    policy.charge("Public", 4, "ip:1.2.3.4", 0, 0)
    with pytest.raises(RateLimited) as refused:
        policy.charge("Public", 2, "ip:1.2.3.4", 0, 0)
    assert refused.value.headers["gw-ratelimit-remaining"] == "1"
    assert _remaining(policy, "Public", 1, "ip:1.2.3.4") == "0"


def test_a_weight_override_replaces_the_endpoints_own():
    policy = _policy(weights={"GET /api/v1/accounts": 7})
    assert policy.weight_of("GET", "/api/v1/accounts", 5) == 7
    assert policy.weight_of("POST", "/api/v1/accounts", 5) == 5


def test_an_unreachable_limiter_admits_when_failing_open():
    assert _policy(DownLimiter(), fail_open=True).charge("Spot", 1, "a", 0, 0) == {}


def test_an_unreachable_limiter_refuses_when_failing_closed():
    with pytest.raises(LimiterDown):
        _policy(DownLimiter()).charge("Spot", 1, "a", 0, 0)
