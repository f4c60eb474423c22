"""Applying the rate-limit pools at the edge, and the gw-ratelimit-* headers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from kuledger.services.ratelimit import (
    Decision,
    LimiterUnavailable,
    RateLimiter,
    quota_for,
)

log = logging.getLogger("kuledger.ratelimit")
PUBLIC = "Public"
# What a failed authentication costs the client IP's Public quota, whatever the
# endpoint: 100 guesses per 30 s window at the default quota of 2000.
AUTH_FAILURE_WEIGHT = 20
MAX_SUSPECTS = 100_000  # client IPs remembered for a failed authentication


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
    # Client IP -> when its current Public window ends (ms), for IPs whose
    # authentication failed in this process during that window.
    _suspects: dict[str, int] = field(default_factory=dict)
    _suspects_lock: threading.Lock = field(default_factory=threading.Lock)

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

    def charge_failure(self, ip: str | None, now: int) -> dict[str, str]:
        """Charge a failed authentication to the client IP's share of the Public
        pool, so that guessing costs quota; RateLimited once it is used up. An
        unreachable limiter charges nothing: the request is refused anyway."""
        try:
            headers = self.charge(PUBLIC, AUTH_FAILURE_WEIGHT, f"ip:{ip}", 0, now)
        except LimiterDown:
            return {}
        except RateLimited as exc:
            self._suspect(ip, now, exc.headers)
            raise
        self._suspect(ip, now, headers)
        return headers

    def admit_signed(self, ip: str | None, now: int) -> None:
        """Before a signed request is checked: refuse it (RateLimited) while a
        failure could no longer be charged to its IP, so a guesser whose quota
        is spent learns nothing more, not even from a right guess. Only an IP
        that failed here in the current window costs a lookup; in other
        workers it takes at most one more failure each to be caught."""
        until = self._suspects.get(ip or "")
        if until is None:
            return
        if now >= until:
            self._suspects.pop(ip or "", None)
            return
        try:  # a weight of 0 deducts nothing: it reads what is left
            decision = self.limiter.hit(
                f"{PUBLIC}:ip:{ip}", 0, quota_for(PUBLIC, 0, self.quotas), now
            )
        except LimiterUnavailable:
            return  # the check itself then answers
        if decision.remaining < AUTH_FAILURE_WEIGHT:
            raise RateLimited(_headers(decision))

    def _suspect(self, ip: str | None, now: int, headers: Mapping[str, str]) -> None:
        reset = int(headers.get("gw-ratelimit-reset", "0")) or 30_000
        with self._suspects_lock:  # worker threads fail concurrently
            if len(self._suspects) >= MAX_SUSPECTS:
                live = {k: t for k, t in self._suspects.items() if t > now}
                if len(live) >= MAX_SUSPECTS:  # a flood of addresses: drop the oldest
                    live.pop(next(iter(live)))
                self._suspects = live
            self._suspects[ip or ""] = now + reset

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
