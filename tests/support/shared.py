"""Servers shared by a test module, one per database engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.server import LiveServer, live_server

if TYPE_CHECKING:
    from tests.conftest import PostgresDatabases

# Parameters of a module-scoped server fixture: each module runs on both engines.
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def engine_database(
    engine: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> tuple[str, Path]:
    """A fresh database of `engine` ("sqlite", "postgres"), and a work folder."""
    workdir = tmp_path_factory.mktemp("server")
    if engine == "sqlite":
        return f"sqlite:///{workdir / 'ledger.db'}", workdir
    return postgres_databases.new(), workdir


def fresh_database(request: pytest.FixtureRequest, engine: str, tmp_path: Path) -> str:
    """A fresh database of `engine` for one test: a SQLite file in tmp_path,
    or a new PostgreSQL database (the fixture is asked for only then)."""
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return databases.new()


@contextmanager
def engine_server(
    engine: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """`kuledger serve` on a fresh database of `engine`."""
    url, workdir = engine_database(engine, tmp_path_factory, postgres_databases)
    with live_server(url, workdir, extra_env=extra_env) as running:
        yield running
    _release(engine, url, postgres_databases)


@contextmanager
def engine_app(
    engine: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    extra_env: dict[str, str] | None = None,
) -> Iterator[InProcessServer]:
    """The app `kuledger serve` runs, in process, on a fresh database of `engine`."""
    url, workdir = engine_database(engine, tmp_path_factory, postgres_databases)
    with in_process_server(url, workdir, extra_env=extra_env) as running:
        yield running
    _release(engine, url, postgres_databases)


def _release(engine: str, url: str, postgres_databases: PostgresDatabases) -> None:
    if engine == "postgres":  # dropped now, in the background, not at the end
        postgres_databases.release(url)
