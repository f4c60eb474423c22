"""Streaming read replicas: which one may serve a read, if any.

A poll thread asks, every POLL_S, the primary for its WAL position
(`pg_current_wal_lsn()`) and each replica for its replay position
(`pg_last_wal_replay_lsn()`). A replica's lag is how old the newest primary
position it has replayed is, measured on this process's clock against the
primary's sampled positions, so it needs no clock agreement and also sees a
replica whose stream has stopped. `pick(required)` returns a replica in
rotation that has replayed past `required` (round robin), or None: the
primary. Reads never pay a round trip for this; they use the last poll.

Out of rotation: a replica that is down or refuses connections (`failed`, or a
poll that fails: retried after RETRY_S), that is not in recovery (a promoted
or mistaken primary), that lags past `max_lag_ms`, or whose last successful
poll is older than that. Replicas are connected with
`default_transaction_read_only=on`: nothing is ever written to one.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kuledger.config import hide_password
from kuledger.services.ports import StorageUnavailable
from kuledger.storage.engines import GENERIC_PLANS, normalize_url
from kuledger.storage.wal_positions import WalPositions, lsn_value

log = logging.getLogger("kuledger.replicas")

POLL_S = 0.05
RETRY_S = 1.0  # a failed replica is polled again after this
FLUSH_S = 1.0  # how often read counts go to `on_reads`
SETTING = "KULEDGER_READ_DATABASE_URLS"
# Read-only sessions, with the primary read pool's generic plans.
REPLICA_OPTIONS = f"-c default_transaction_read_only=on {GENERIC_PLANS}"


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """What the last poll found: `state` is up, lagging, down or unknown."""

    state: str
    replay: int = 0
    lag_ms: float | None = None
    observed_at: float = 0.0  # monotonic time of the last successful poll
    retry_at: float = 0.0
    problem: str = ""


class Replica:
    """One replica: its engine (autocommit, read-only sessions) and state."""

    def __init__(self, name: str, url: str, threads: int) -> None:
        self.name = name
        self.address = address_of(url)
        self.engine = create_replica_engine(url, threads)
        self.state = ReplicaState("unknown")

    def describe(self) -> dict[str, Any]:
        s = self.state
        return {
            "address": self.address,
            "state": s.state,
            "lag_ms": None if s.lag_ms is None else round(s.lag_ms, 1),
            **({"problem": s.problem} if s.problem else {}),
        }


def address_of(url: str) -> str:
    """host:port/database of a URL, without user or password."""
    parsed = sa.make_url(normalize_url(url))
    return f"{parsed.host}:{parsed.port or 5432}/{parsed.database}"


def create_replica_engine(url: str, threads: int) -> Engine:
    """Like the primary's read engine (engines.create_read_engine), but every
    session is read-only, fails fast when the replica is away, and shows
    itself in pg_stat_activity as `kuledger-replica-read`."""
    return sa.create_engine(
        normalize_url(url),
        pool_size=threads,
        max_overflow=2,
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        connect_args={
            "options": REPLICA_OPTIONS,
            "connect_timeout": 2,
            "application_name": "kuledger-replica-read",
        },
    )


class ReplicaSet:
    """The replicas of one process, and the thread that polls them;
    `primary` is the primary's autocommit read engine."""

    def __init__(
        self,
        primary: Engine,
        urls: Sequence[str],
        *,
        max_lag_ms: int,
        threads: int,
        on_reads: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self._primary = primary
        self.replicas = [
            Replica(f"replica{i + 1}", url, threads) for i, url in enumerate(urls)
        ]
        self.max_lag_ms = max_lag_ms
        self._samples: deque[tuple[float, int]] = deque()
        self._turn = itertools.count()
        self._reads: dict[str, int] = {}  # since the last flush
        self.reads: dict[str, int] = {}  # since the start
        self._on_reads = on_reads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Poll once now, then every POLL_S on a daemon thread."""
        with self._lock:
            if self._thread is not None:
                return
            self.poll()
            self._thread = threading.Thread(
                target=self._run, name="replica-poll", daemon=True
            )
            self._thread.start()

    def pick(self, required: int) -> Replica | None:
        """A replica in rotation that has replayed past `required`, or None."""
        now = time.monotonic()
        fresh = [
            r
            for r in self.replicas
            if r.state.state == "up"
            and r.state.replay >= required
            and now - r.state.observed_at <= self.max_lag_ms / 1000
        ]
        if not fresh:
            return None
        return fresh[next(self._turn) % len(fresh)]

    def any_up(self) -> bool:
        return any(r.state.state == "up" for r in self.replicas)

    def counted(self, target: str) -> None:
        """One read served by `target` (a replica's name, or primary)."""
        self._reads[target] = self._reads.get(target, 0) + 1
        self.reads[target] = self.reads.get(target, 0) + 1

    def failed(self, replica: Replica, exc: BaseException) -> None:
        """A read on `replica` failed: out of rotation until a poll succeeds."""
        if replica.state.state != "down":
            log.warning(
                "read replica %s out of rotation: %s", replica.address, _brief(exc)
            )
        replica.state = ReplicaState(
            "down", retry_at=time.monotonic() + RETRY_S, problem=_brief(exc)
        )
        replica.engine.dispose()

    def describe(self) -> dict[str, dict[str, Any]]:
        """Each replica's address, state and lag: for /readyz and /metrics."""
        return {r.name: r.describe() for r in self.replicas}

    def poll(self) -> None:
        """One round: the primary's position, then each replica's."""
        now = time.monotonic()
        try:
            with self._primary.connect() as conn:
                text = conn.exec_driver_sql("SELECT pg_current_wal_lsn()::text")
                self._samples.append((now, lsn_value(text.scalar_one())))
        except (sa.exc.DBAPIError, StorageUnavailable):
            pass  # the primary is away: judge the replicas by older samples
        window = max(2 * self.max_lag_ms / 1000, 1.0)
        while len(self._samples) > 1 and self._samples[1][0] < now - window:
            self._samples.popleft()
        for replica in self.replicas:
            if replica.state.state == "down" and now < replica.state.retry_at:
                continue
            self._poll_replica(replica)

    def _poll_replica(self, replica: Replica) -> None:
        try:
            with replica.engine.connect() as conn:
                replay, recovering = conn.exec_driver_sql(
                    "SELECT pg_last_wal_replay_lsn()::text, pg_is_in_recovery()"
                ).one()
        except sa.exc.DBAPIError as exc:
            self.failed(replica, exc)
            return
        now = time.monotonic()
        if not recovering or replay is None:
            replica.state = ReplicaState(
                "down",
                retry_at=now + RETRY_S,
                problem="not a streaming replica (pg_is_in_recovery() is false)",
            )
            return
        position = lsn_value(replay)
        lag_ms = lag_behind(self._samples, position, now)
        state = "up" if lag_ms <= self.max_lag_ms else "lagging"
        if state != replica.state.state:
            log.info("read replica %s is %s", replica.address, state)
        replica.state = ReplicaState(state, position, lag_ms, now)

    def _run(self) -> None:
        flushed = time.monotonic()
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except Exception:  # never let the poller die
                log.exception("polling the read replicas failed")
            if self._on_reads is not None and time.monotonic() - flushed >= FLUSH_S:
                flushed = time.monotonic()
                self._flush_reads()

    def _flush_reads(self) -> None:
        reads, self._reads = self._reads, {}
        if reads and self._on_reads is not None:
            self._on_reads(reads)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._flush_reads()
        for replica in self.replicas:
            replica.engine.dispose()


def lag_behind(samples: Sequence[tuple[float, int]], replay: int, now: float) -> float:
    """How old, in ms at `now`, the newest primary position in `samples`
    ((monotonic time, WAL position), oldest first) that `replay` has passed
    is: 0 if it has passed the newest; the oldest sample's age if none."""
    if not samples or replay >= samples[-1][1]:
        return 0.0
    for at, position in reversed(samples):
        if position <= replay:
            return (now - at) * 1000
    return (now - samples[0][0]) * 1000


class ReadRouter:
    """Where a user's read goes: a replica that has replayed the user's last
    commit (WalPositions), else the primary (None)."""

    def __init__(self, replicas: ReplicaSet, positions: WalPositions) -> None:
        self.replicas = replicas
        self._positions = positions

    def replica_for(self, uid: str) -> Replica | None:
        if not self.replicas.any_up():  # spare the Redis round trip
            return None
        return self.replicas.pick(self._positions.required(uid))

    def counted(self, target: str) -> None:
        self.replicas.counted(target)

    def failed(self, replica: Replica, exc: BaseException) -> None:
        self.replicas.failed(replica, exc)


def _brief(exc: BaseException) -> str:
    """The driver's error under `exc`, in one line without a password."""
    orig = exc
    while True:
        inner = getattr(orig, "orig", None) or orig.__cause__
        if inner is None:
            break
        orig = inner
    text = hide_password(str(orig)).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"[:200]


def check_replicas(primary_url: str, urls: Sequence[str]) -> list[str]:
    """What is wrong with the configured replicas at start: a malformed URL,
    one that cannot be reached, or one that is not a streaming replica of
    the primary. Each problem names the setting."""
    if urls and sa.make_url(normalize_url(primary_url)).get_backend_name() != (
        "postgresql"
    ):
        return [f"{SETTING}: read replicas need KULEDGER_DATABASE_URL on PostgreSQL"]
    problems = []
    for index, url in enumerate(urls, 1):
        problem = _replica_problem(primary_url, url)
        if problem:
            problems.append(
                f"{SETTING}: replica {index} ({hide_password(url)}): {problem}"
            )
    return problems


def malformed(url: str) -> str | None:
    """Why `url` is not a PostgreSQL URL, or None."""
    try:
        parsed = sa.make_url(normalize_url(url))
    except sa.exc.ArgumentError:
        return "not a database URL (postgresql://user@host:port/dbname)"
    if parsed.drivername != "postgresql+psycopg":
        return f"not a PostgreSQL URL ({parsed.drivername})"
    if not parsed.host or not parsed.database:
        return "a replica URL needs a host and a database name"
    return None


def _replica_problem(primary_url: str, url: str) -> str | None:
    problem = malformed(url)
    if problem:
        return problem
    identity = "SELECT system_identifier::text FROM pg_control_system()"
    engine = create_replica_engine(url, 1)
    primary = sa.create_engine(normalize_url(primary_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            recovering, system = conn.exec_driver_sql(
                f"SELECT pg_is_in_recovery(), ({identity})"
            ).one()
        with primary.connect() as conn:
            primary_system = conn.exec_driver_sql(identity).scalar_one()
    except (sa.exc.DBAPIError, StorageUnavailable) as exc:
        return f"unreachable: {_brief(exc)}"
    finally:
        engine.dispose()
        primary.dispose()
    if not recovering:
        return "not a streaming replica (pg_is_in_recovery() is false)"
    if system != primary_system:
        return "a replica of another cluster than KULEDGER_DATABASE_URL's"
    return None
