"""The `clients` fixture: each test runs on KucoinClient and on
AsyncKucoinClient (see clients.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import module_server  # noqa: F401  (test_server.py's)
from tests.sdk.clients import FLAVOURS, Clients


@pytest.fixture(params=FLAVOURS)
def clients(request: pytest.FixtureRequest) -> Iterator[Clients]:
    made = Clients(request.param)
    yield made
    made.close()
