"""Read-your-writes across nodes: the WAL position of each user's last commit.

After a commit that wrote a user's accounts, the unit of work asks the
primary for `pg_current_wal_insert_lsn()` (at or past the end of the commit
record) and `WalPositions.record`s it for each of the commit's uids, in Redis
(shared by every node and process, kept for `ttl_ms`) and in this process. A
read for a user then goes to a replica only once the replica has replayed past
`required(uid)` (storage/replicas.py).

Positions only grow: a Lua script keeps the larger of the stored and the new
one, so two nodes committing for one user in either order leave the later
position. When Redis cannot be read, `required` answers UNKNOWN (read from the
primary) and skips Redis for a second, so a lost Redis costs no read a
timeout each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("kuledger.replicas")

UNKNOWN = (1 << 64) - 1  # past any position: only the primary will do
KEY = "kuledger:lsn:"
REDIS_TIMEOUT_S = 0.25
REDIS_PAUSE_S = 1.0  # after a Redis error, how long reads skip Redis

# KEYS: the users' keys; ARGV[1]: the position (16 hex digits, so that text
# order is numeric order), ARGV[2]: the time to live in ms.
_RECORD = """
for _, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if (not current) or current < ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    redis.call('PEXPIRE', key, ARGV[2])
  end
end
return 0
"""


def lsn_value(text: str) -> int:
    """A pg_lsn's text ('16/B374D848') as an integer."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def commit_position(dbapi_connection: Any) -> int:
    """The primary's WAL insert position, asked on the connection that has
    just committed (idle, so in autocommit: one round trip, no BEGIN)."""
    dbapi_connection.autocommit = True
    try:
        row = dbapi_connection.execute(
            "SELECT pg_current_wal_insert_lsn()::text"
        ).fetchone()
    finally:
        dbapi_connection.autocommit = False
    return lsn_value(row[0])


class WalPositions:
    """Each user's last commit position: Redis for every node, a dict for
    this process (which also covers a write whose Redis update failed)."""

    def __init__(self, redis_url: str, ttl_ms: int) -> None:
        # Imported here: storage/sql.py imports this module, and every
        # command, SQLite ones included, would pay for Redis's client.
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._error = redis.RedisError
        self._redis = redis.Redis.from_url(
            redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(_RECORD)
        self._ttl_ms = ttl_ms
        self._local: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._redis_paused_until = 0.0

    def record(self, uids: Iterable[str], position: int) -> None:
        """`position` is at or past the end of the uids' latest commit."""
        uids = sorted(set(uids))
        if not uids:
            return
        expires = time.monotonic() + self._ttl_ms / 1000
        with self._lock:
            for uid in uids:
                known = self._local.get(uid)
                if known is None or known[0] < position:
                    self._local[uid] = (position, expires)
            if len(self._local) > 100_000:
                self._forget_expired()
        try:
            self._script(
                keys=[KEY + uid for uid in uids],
                args=[f"{position:016X}", self._ttl_ms],
            )
        except self._error as exc:
            # The write is committed: it is not undone. This process still
            # reads it back (its own dict); other nodes may not, for as long
            # as Redis is away (docs/operations.md#read-replicas).
            log.warning("cannot record a commit's WAL position in Redis: %s", exc)

    def required(self, uid: str) -> int:
        """The position a replica must have replayed to serve `uid`: 0 if
        none is known, UNKNOWN if Redis cannot say."""
        local = 0
        with self._lock:
            known = self._local.get(uid)
        if known is not None and known[1] > time.monotonic():
            local = known[0]
        if time.monotonic() < self._redis_paused_until:
            return UNKNOWN
        try:
            stored = self._redis.get(KEY + uid)
        except self._error:
            self._redis_paused_until = time.monotonic() + REDIS_PAUSE_S
            return UNKNOWN
        if stored is None:
            return local
        return max(local, int(stored, 16))

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for uid in [u for u, (_, expires) in self._local.items() if expires <= now]:
            del self._local[uid]

    def close(self) -> None:
        self._redis.close()
