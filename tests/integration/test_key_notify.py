"""The key cache's change feed on the real PostgreSQL: migration 0011's
triggers NOTIFY for any writer (raw SQL too), the listener drops what changed,
and while it is cut off the cache is bypassed, then it listens again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest

from kuledger.bootstrap import Container
from kuledger.services import keys as key_service
from kuledger.services import users as user_service
from kuledger.services.key_cache import KeyCache
from kuledger.services.ports import StoredKey
from kuledger.storage import migrate
from kuledger.storage.key_notify import APPLICATION_NAME, CHANNEL
from tests.conftest import POSTGRES_URL, make_container

pytestmark = pytest.mark.postgres

WAIT_S = 10  # bounds every wait below; none is asserted on


def _wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "not within the wait's bound"
        time.sleep(0.02)


@dataclass
class World:
    url: str
    container: Container
    sql: psycopg.Connection  # raw SQL, autocommit: a writer kuledger knows nothing of
    key: str
    reads: list[str]

    @property
    def cache(self) -> KeyCache:
        cache = self.container.key_cache
        assert cache is not None
        return cache

    def load(self, name: str) -> StoredKey | None:
        self.reads.append(name)
        return self.container.reader.api_key(name)

    def get(self) -> StoredKey | None:
        return self.cache.get(self.key, self.load)

    def served_from_cache(self) -> bool:
        """Two lookups, and the second read nothing."""
        self.get()
        before = len(self.reads)
        self.get()
        return len(self.reads) == before

    def listener_pids(self) -> list[int]:
        rows = self.sql.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND datname = current_database()",
            (APPLICATION_NAME,),
        )
        return [pid for (pid,) in rows]


@pytest.fixture
def world(postgres_url: str) -> Iterator[World]:
    container = make_container(postgres_url)
    user_service.create_user(container.uow, container.clock, uid="alice")
    key = key_service.create_key(
        container.uow, container.box, container.clock, uid="alice"
    )
    with psycopg.connect(postgres_url, autocommit=True) as sql:
        world = World(postgres_url, container, sql, key.key, [])
        try:
            yield world
        finally:
            container.close()


def test_raw_sql_on_keys_and_users_notifies_the_channel(postgres_url: str):
    container = make_container(postgres_url)
    user_service.create_user(container.uow, container.clock, uid="bob")
    key = key_service.create_key(
        container.uow, container.box, container.clock, uid="bob"
    )
    container.close()
    with (
        psycopg.connect(postgres_url, autocommit=True) as listener,
        psycopg.connect(postgres_url, autocommit=True) as sql,
    ):
        listener.execute(f"LISTEN {CHANNEL}")
        sql.execute(
            "UPDATE api_keys SET permissions = 'General,Spot' WHERE key = %s",
            (key.key,),
        )
        sql.execute("UPDATE users SET vip_level = 3 WHERE uid = 'bob'")
        with sql.transaction():  # rolled back: tells nobody
            sql.execute("UPDATE api_keys SET revoked_at = 1 WHERE key = %s", (key.key,))
            raise psycopg.Rollback()
        sql.execute("DELETE FROM api_keys WHERE key = %s", (key.key,))
        got = [n.payload for n in listener.notifies(timeout=2, stop_after=3)]
    assert got == [f"k:{key.key}", "u:bob", f"k:{key.key}"]


def test_a_cached_row_is_dropped_when_raw_sql_revokes_it(world: World):
    _wait_for(world.served_from_cache)  # the listener is up, the row cached
    world.sql.execute("UPDATE api_keys SET revoked_at = 1 WHERE key = %s", (world.key,))
    _wait_for(lambda: len(world.cache) == 0)
    row = world.get()
    assert row is not None and row.revoked_at == 1


def test_a_vip_level_change_by_raw_sql_reaches_the_cached_row(world: World):
    _wait_for(world.served_from_cache)
    world.sql.execute("UPDATE users SET vip_level = 4 WHERE uid = 'alice'")
    _wait_for(lambda: (row := world.get()) is not None and row.vip_level == 4)


def test_a_change_this_process_commits_is_seen_by_the_next_lookup(world: World):
    _wait_for(world.served_from_cache)
    c = world.container
    key_service.revoke_key(c.uow, c.clock, world.key)
    row = world.get()  # no wait: the commit dropped the row here
    assert row is not None and row.revoked_at is not None


def test_while_the_listener_is_cut_off_every_lookup_reads_then_it_recovers(
    world: World,
):
    _wait_for(world.served_from_cache)
    name = world.url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            (pid,) = world.listener_pids()
            world.sql.execute("SELECT pg_terminate_backend(%s)", (pid,))
            _wait_for(lambda: not world.served_from_cache())
            # A revoke during the outage, unheard by the cache: it reads.
            world.sql.execute(
                "UPDATE api_keys SET revoked_at = 7 WHERE key = %s", (world.key,)
            )
            for _ in range(5):
                row = world.get()
                assert row is not None and row.revoked_at == 7
            assert len(world.cache) == 0
            world.sql.execute(
                "UPDATE api_keys SET revoked_at = NULL WHERE key = %s", (world.key,)
            )
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    _wait_for(lambda: len(world.listener_pids()) == 1)
    _wait_for(world.served_from_cache)  # listening again: cached again
    world.sql.execute(
        "UPDATE api_keys SET permissions = 'Spot' WHERE key = %s", (world.key,)
    )
    _wait_for(lambda: (row := world.get()) is not None and row.permissions == "Spot")


def test_sqlite_and_a_ttl_of_0_cache_no_key_rows(sqlite_url: str, postgres_url: str):
    for container in (
        make_container(sqlite_url),
        make_container(postgres_url, key_cache_ttl_s=0),
    ):
        try:
            assert container.key_cache is None
        finally:
            container.close()


def test_the_migration_goes_down_and_up_again(world: World):
    def triggers() -> list[str]:
        rows = world.sql.execute(
            "SELECT tgname FROM pg_trigger WHERE tgname LIKE '%%_changed' "
            "OR tgname LIKE '%%_truncated' ORDER BY tgname"
        )
        return [name for (name,) in rows]

    assert triggers() == [
        "api_keys_changed",
        "api_keys_truncated",
        "users_changed",
        "users_truncated",
    ]
    migrate.downgrade(world.container.engine, "fees")
    assert triggers() == []
    migrate.upgrade(world.container.engine)
    assert len(triggers()) == 4
