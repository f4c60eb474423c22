"""Servers shared by a test module, one per database engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from tests.support.server import LiveServer, live_server

if TYPE_CHECKING:
    from tests.conftest import PostgresDatabases

# Parameters of a module-scoped server fixture: each module runs on both engines.
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def engine_server(
    engine: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """`kuledger serve` on a fresh database of `engine` ("sqlite", "postgres")."""
    workdir = tmp_path_factory.mktemp("server")
    if engine == "sqlite":
        url = f"sqlite:///{workdir / 'ledger.db'}"
    else:
        url = postgres_databases.new()
    with live_server(url, workdir, extra_env=extra_env) as running:
        yield running
