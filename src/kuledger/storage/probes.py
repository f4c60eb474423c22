"""What the monitoring listener asks the database and Redis: each readiness
check returns when the part is usable and raises when it is not."""

from __future__ import annotations

import statistics
import time

import redis
from sqlalchemy.engine import Engine


class NotReady(Exception):
    """Raised by a readiness check that reached its part and found it unfit."""


def database_reachable(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")


def round_trip_ms(engine: Engine, samples: int = 15) -> float:
    """The median time of `SELECT 1` on one connection, in ms: the network and
    the server's per-statement cost, without connecting (one warm-up first)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        times = []
        for _ in range(samples):
            began = time.perf_counter()
            connection.exec_driver_sql("SELECT 1")
            times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def migrations_current(engine: Engine, head: str) -> None:
    """The schema is at `head` (Alembic's newest revision, read once at start).
    Alembic's own table is read directly: its MigrationContext logs two lines
    per call, a scrape's worth every 15 s."""
    with engine.connect() as connection:
        current = connection.exec_driver_sql(
            "SELECT version_num FROM alembic_version"
        ).scalar()
    if current != head:
        raise NotReady(
            f"the schema is at {current or 'no revision'}, this kuledger expects "
            f"{head}: run `kuledger init`"
        )


class RedisProbe:
    """PING over one client kept for the listener's lifetime."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )

    def __call__(self) -> None:
        self._client.ping()

    def close(self) -> None:
        self._client.close()


def verify_status(engine: Engine) -> tuple[int | None, int]:
    """(when the last clean `kuledger verify` stored its checkpoints, in epoch
    ms, or None if none ever did; how many accounts have a checkpoint).
    A failing verify stores none, so the time stops moving while it fails."""
    with engine.connect() as connection:
        last, accounts = connection.exec_driver_sql(
            "SELECT max(verified_at), count(*) FROM verify_checkpoints"
        ).one()
    return (None if last is None else int(last)), int(accounts)
