"""The API for a test, or shared by a module's tests: in process (`api`,
`module_api`) for what the application does, or a real `kuledger serve`
(`server`, `module_server`) for what needs its socket or process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PostgresDatabases
from tests.support.inprocess import InProcessCli, InProcessServer, in_process_server
from tests.support.server import LiveServer, live_server
from tests.support.shared import ENGINES, engine_app, engine_server


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[InProcessServer]:
    """The app on a fresh database (SQLite file or PostgreSQL), in process."""
    with in_process_server(database_url, tmp_path) as running:
        yield running


@pytest.fixture(scope="module", params=ENGINES)
def module_api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[InProcessServer]:
    """One in-process app (default settings) shared by a module's tests on
    each engine; each test creates its own users."""
    with engine_app(request.param, tmp_path_factory, postgres_databases) as s:
        yield s


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """`kuledger serve` on a fresh database (SQLite file or PostgreSQL)."""
    with live_server(database_url, tmp_path, setup_cli=InProcessCli) as running:
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
