"""Fixtures for the read-replica tests: one PostgreSQL primary and its
streaming replica for the session (tests.support.pg_cluster), a fresh
database on them per test, and a Redis of the session's own."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.storage import migrate
from kuledger.storage.replicas import ReplicaSet
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.pg_cluster import PgPair, binaries_or_skip
from tests.system.processes import RedisServer, private_redis_server

T = TypeVar("T")


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[PgPair]:
    pair = PgPair.start(binaries_or_skip())
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="session")
def replica_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with private_redis_server(tmp_path_factory.mktemp("replica-redis")) as server:
        yield server


@pytest.fixture
def replicated_db(pg_pair: PgPair) -> tuple[str, str]:
    """A fresh, migrated database: (its primary URL, its replica URL), the
    replica caught up."""
    primary, replica = pg_pair.create_database(f"kuledger_r_{uuid.uuid4().hex[:10]}")
    container = Container(Settings.from_env({}, database_url=primary))
    migrate.upgrade(container.engine)
    container.close()
    pg_pair.caught_up()
    return primary, replica


@pytest.fixture
def replica_env(
    replicated_db: tuple[str, str], replica_redis: RedisServer
) -> dict[str, str]:
    """The settings of an API node reading from the session's replica."""
    _, replica = replicated_db
    return {
        "KULEDGER_READ_DATABASE_URLS": replica,
        "KULEDGER_REDIS_URL": replica_redis.url,
        "KULEDGER_RATELIMIT": "off",
        "KULEDGER_REPLICA_MAX_LAG_MS": "500",
    }


@pytest.fixture
def node(
    replicated_db: tuple[str, str], replica_env: dict[str, str], tmp_path: Path
) -> Iterator[InProcessServer]:
    """An API node (the app `kuledger serve` runs, in process) on the
    primary, reading from the replica."""
    with in_process_server(
        replicated_db[0], tmp_path / "node", extra_env=replica_env
    ) as server:
        yield server


def replica_set(server: InProcessServer) -> ReplicaSet:
    assert server.container is not None
    replicas = server.container.replicas
    assert replicas is not None
    return replicas


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    """Poll `predicate` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {predicate}")
        time.sleep(0.02)


def each_in_a_thread(run: Callable[[T], None], items: Iterable[T]) -> None:
    """`run(item)` for each item, all at once, each in a thread of its own."""
    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
