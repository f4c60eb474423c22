"""Applying the rate-limit pools at the edge, and the gw-ratelimit-* headers."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from kuledger.services.ratelimit import (
    Decision,
    LimiterUnavailable,
    RateLimiter,
    quota_for,
)

log = logging.getLogger("kuledger.ratelimit")


class RateLimited(Exception):
    """Raised when a request's weight exceeds what is left of its pool's quota."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("Too Many Requests")
        self.headers = headers


class LimiterDown(Exception):
    """Raised (fail-closed mode) when the shared limiter cannot be reached."""


@dataclass
class RateLimitPolicy:
    limiter: RateLimiter
    quotas: Mapping[str, int]  # overrides by pool
    weights: Mapping[str, int]  # overrides by "METHOD /path"
    fail_open: bool
    _last_warning: float = 0.0
    _down: bool = False

    def weight_of(self, method: str, path: str, default: int) -> int:
        """An endpoint's weight: its override, else the endpoint's own."""
        return self.weights.get(f"{method} {path}", default)

    def charge(
        self, pool: str, weight: int, subject: str, vip_level: int, now: int
    ) -> dict[str, str]:
        """Deduct `weight` from `subject`'s share of `pool`; return the headers
        or raise RateLimited (nothing deducted) or LimiterDown."""
        quota = quota_for(pool, vip_level, self.quotas)
        try:
            decision = self.limiter.hit(f"{pool}:{subject}", weight, quota, now)
        except LimiterUnavailable as exc:
            self._warn(exc)
            if self.fail_open:
                return {}
            raise LimiterDown("rate limiter unavailable, try again later") from exc
        if self._down:
            self._down = False
            log.warning("rate limiter reachable again")
        headers = _headers(decision)
        if not decision.allowed:
            raise RateLimited(headers)
        return headers

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        first = not self._down
        self._down = True
        # The first failure of an outage, then one line per 10 s, not per request.
        if first or now - self._last_warning > 10:
            self._last_warning = now
            mode = "admitting requests" if self.fail_open else "answering 503000"
            log.warning("rate limiter unreachable (%s); %s", exc, mode)


def _headers(decision: Decision) -> dict[str, str]:
    return {
        "gw-ratelimit-limit": str(decision.limit),
        "gw-ratelimit-remaining": str(max(0, decision.remaining)),
        "gw-ratelimit-reset": str(max(0, decision.reset_ms)),
    }
