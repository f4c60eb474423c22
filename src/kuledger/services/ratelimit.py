"""KuCoin rate limiting 2.0: pools with a quota per 30-second fixed window.

Each request deducts its endpoint's weight from one pool. The window starts
at the first request (kucoin-api-spec.md 6.2). Private pools count per uid,
Public per client IP. A refused request consumes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

WINDOW_MS = 30_000
POOLS = ("Spot", "Futures", "Management", "Public", "Earn", "CopyTrading")

# Quota per 30 s by VIP level 0..12 (kucoin-api-spec.md 6.1).
_SPOT = (
    4000,
    6000,
    8000,
    10000,
    13000,
    16000,
    20000,
    23000,
    26000,
    30000,
    33000,
    36000,
    40000,
)
_FUTURES = (
    2000,
    2000,
    4000,
    5000,
    6000,
    7000,
    8000,
    10000,
    12000,
    14000,
    16000,
    18000,
    20000,
)
_FLAT = (2000,) * 13
VIP_QUOTAS: dict[str, tuple[int, ...]] = {
    "Spot": _SPOT,
    "Futures": _FUTURES,
    "Management": _FUTURES,
    "Public": _FLAT,
    "Earn": _FLAT,
    "CopyTrading": _FLAT,
}


def quota_for(pool: str, vip_level: int, overrides: Mapping[str, int]) -> int:
    """The pool's quota for a VIP level; an override replaces it at every level."""
    if pool in overrides:
        return overrides[pool]
    return VIP_QUOTAS[pool][max(0, min(vip_level, 12))]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_ms: int  # until the window ends


class LimiterUnavailable(Exception):
    """Raised when the shared limiter (Redis) cannot be reached."""


class RateLimiter(Protocol):
    def hit(self, bucket: str, weight: int, quota: int, now: int) -> Decision: ...


class MemoryLimiter:
    """Fixed windows kept in this process: right for one worker."""

    def __init__(self, window_ms: int = WINDOW_MS) -> None:
        self._window = window_ms
        self._buckets: dict[str, tuple[int, int]] = {}  # bucket -> (start, used)
        self._lock = threading.Lock()

    def hit(self, bucket: str, weight: int, quota: int, now: int) -> Decision:
        with self._lock:
            start, used = self._buckets.get(bucket, (now, 0))
            if now >= start + self._window:
                start, used = now, 0
            reset = start + self._window - now
            if used + weight > quota:
                return Decision(False, quota, quota - used, reset)
            self._buckets[bucket] = (start, used + weight)
            if len(self._buckets) > 100_000:
                self._evict(now)
            return Decision(True, quota, quota - used - weight, reset)

    def _evict(self, now: int) -> None:
        expired = [k for k, (s, _) in self._buckets.items() if now >= s + self._window]
        for key in expired:
            del self._buckets[key]
