"""Fixtures for the read-replica tests: one PostgreSQL primary and its
streaming replica for the session (tests.support.pg_cluster), a fresh
database on them per test, and a Redis of the session's own."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.storage import migrate
from tests.support.pg_cluster import IN_CI, PgPair, binaries_or_skip
from tests.support.server import free_port
from tests.system.processes import RedisServer


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[PgPair]:
    pair = PgPair.start(binaries_or_skip())
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="session")
def replica_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    executable = shutil.which("redis-server")
    if executable is None:
        if IN_CI:
            pytest.fail("redis-server is required under CI but is not installed")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    workdir: Path = tmp_path_factory.mktemp("replica-redis")
    server = RedisServer(executable, free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


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
