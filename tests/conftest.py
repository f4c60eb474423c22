"""Shared fixtures: real databases (SQLite files, PostgreSQL), settings, clocks.

PostgreSQL tests use KULEDGER_TEST_POSTGRES_URL (default: the local server's
`test` database) only to create and drop throwaway databases. Where no server
answers they skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.storage import migrate
from tests.fakes import FakeClock

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")

POSTGRES_URL = os.environ.get(
    "KULEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET_KEY = "test-secret-key-not-for-production"


def _postgres_or_skip() -> None:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")


class PostgresDatabases:
    """Creates migrated throwaway databases, cloned from one template.

    A test's database is dropped when the test ends, on a background thread:
    PostgreSQL does the work while the next test runs, instead of a worker
    spending half a minute at the end of the session dropping hundreds.
    """

    def __init__(self) -> None:
        self.template: str | None = None
        self.created: list[str] = []
        self._dropper = ThreadPoolExecutor(1, thread_name_prefix="drop-database")

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(POSTGRES_URL, autocommit=True)

    def _url(self, name: str) -> str:
        base = POSTGRES_URL.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def new(self) -> str:
        _postgres_or_skip()
        if self.template is None:
            name = f"kuledger_tpl_{uuid.uuid4().hex[:10]}"
            with self._admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            container = Container(Settings.from_env({}, database_url=self._url(name)))
            migrate.upgrade(container.engine)
            container.close()
            self.template = name
        name = f"kuledger_t_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self._url(name)

    def release(self, url: str) -> None:
        """Drop a database made by `new` once nothing uses it any more."""
        name = url.rsplit("/", 1)[1]
        self.created.remove(name)
        self._dropper.submit(self._drop, [name])

    def _drop(self, names: list[str]) -> None:
        with self._admin() as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        self._dropper.shutdown(wait=True)  # the released ones first
        if self.created:
            self._drop(list(reversed(self.created)))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    container = Container(Settings.from_env({}, database_url=url))
    migrate.upgrade(container.engine)
    container.close()
    return url


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    url = postgres_databases.new()
    yield url
    postgres_databases.release(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database on each engine."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_container(
    url: str, clock: FakeClock | None = None, **overrides: object
) -> Container:
    settings_ = Settings.from_env(
        {}, database_url=url, secret_key=TEST_SECRET_KEY, **overrides
    )
    return Container(settings_, clock=clock) if clock else Container(settings_)


@pytest.fixture
def container(database_url: str, clock: FakeClock) -> Iterator[Container]:
    c = make_container(database_url, clock)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's KULEDGER_* settings."""
    for name in list(os.environ):
        if name.startswith("KULEDGER_") and not name.startswith("KULEDGER_TEST_"):
            monkeypatch.delenv(name)
