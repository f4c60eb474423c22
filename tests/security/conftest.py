"""The API the authorization and hostile-input tests share: one per engine
and test module, with rate limiting off so no case is refused for speed. In
process (`unlimited_api`), or a real `kuledger serve` (`unlimited_server`)
for the bytes only a socket carries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PostgresDatabases
from tests.support.inprocess import InProcessServer
from tests.support.server import LiveServer
from tests.support.shared import ENGINES, engine_app, engine_server

UNLIMITED = {"KULEDGER_RATELIMIT": "off"}


@pytest.fixture(scope="module", params=ENGINES)
def unlimited_api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[InProcessServer]:
    with engine_app(
        request.param, tmp_path_factory, postgres_databases, UNLIMITED
    ) as api:
        yield api


@pytest.fixture(scope="module", params=ENGINES)
def unlimited_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[LiveServer]:
    with engine_server(
        request.param, tmp_path_factory, postgres_databases, UNLIMITED
    ) as server:
        yield server
