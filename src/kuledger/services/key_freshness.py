"""How long a worker may trust an API key row without a change feed.

On SQLite nothing tells a worker that another process (the CLI, another
worker) revoked a key or changed its permissions, so a row is trusted for a
short, bounded time: a change takes effect on every worker within `ttl_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

KEY_TTL_S = 0.5  # a revoked key stops everywhere within this (< 1 s)


class TtlFreshness:
    """KeyFreshness: a row is current for `ttl_s` after it was read."""

    def __init__(
        self, ttl_s: float = KEY_TTL_S, now: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self._ttl_ns = int(ttl_s * 1e9)
        self._now = now

    def stamp(self) -> int | None:
        return self._now()

    def current(self, stamp: int) -> bool:
        return self._now() - stamp < self._ttl_ns
