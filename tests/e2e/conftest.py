"""A real server subprocess per test, or one shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PostgresDatabases
from tests.support.server import LiveServer, live_server
from tests.support.shared import ENGINES, engine_server


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """`kuledger serve` on a fresh database (SQLite file or PostgreSQL)."""
    with live_server(database_url, tmp_path) as running:
        yield running


@pytest.fixture(scope="module", params=ENGINES)
def module_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[LiveServer]:
    """One `kuledger serve` (default settings) shared by a module's tests on
    each engine: startup is paid once, and each test creates its own users."""
    with engine_server(request.param, tmp_path_factory, postgres_databases) as s:
        yield s
