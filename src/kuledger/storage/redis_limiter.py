"""The shared rate limiter: one Lua script call per request, atomic in Redis.

Every worker on every host sees the same windows. Redis's own clock times the
window (PTTL of the bucket key), so hosts' clocks need not agree.
"""

from __future__ import annotations

import redis

from kuledger.services.ratelimit import WINDOW_MS, Decision, LimiterUnavailable

# KEYS[1] bucket; ARGV weight, quota, window ms -> {allowed, remaining, reset ms}
_HIT = """
local weight, quota, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then used = 0; ttl = window end
if used + weight > quota then return {0, quota - used, ttl} end
if used == 0 then
  redis.call('SET', KEYS[1], weight, 'PX', window)
  ttl = window
else
  redis.call('INCRBY', KEYS[1], weight)
end
return {1, quota - used - weight, ttl}
"""


class RedisLimiter:
    def __init__(
        self, url: str, window_ms: int = WINDOW_MS, prefix: str = "kuledger:rl:"
    ) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            health_check_interval=10,
        )
        self._script = self._client.register_script(_HIT)
        self._window = window_ms
        self._prefix = prefix

    def hit(self, bucket: str, weight: int, quota: int, now: int) -> Decision:
        try:
            allowed, remaining, reset = self._script(
                keys=[self._prefix + bucket], args=[weight, quota, self._window]
            )
        except redis.RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc
        return Decision(bool(allowed), quota, int(remaining), int(reset))

    def close(self) -> None:
        self._client.close()
