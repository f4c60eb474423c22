"""The live server the authorization and hostile-input tests share: one per
engine and test module, with rate limiting off so no case is refused for speed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PostgresDatabases
from tests.support.server import LiveServer
from tests.support.shared import ENGINES, engine_server


@pytest.fixture(scope="module", params=ENGINES)
def unlimited_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[LiveServer]:
    with engine_server(
        request.param,
        tmp_path_factory,
        postgres_databases,
        {"KULEDGER_RATELIMIT": "off"},
    ) as server:
        yield server
