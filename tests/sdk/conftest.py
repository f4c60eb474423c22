"""The `clients` fixture: each test runs on KucoinClient and on
AsyncKucoinClient (see clients.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sdk.clients import FLAVOURS, Clients


@pytest.fixture(params=FLAVOURS)
def clients(request: pytest.FixtureRequest) -> Iterator[Clients]:
    made = Clients(request.param)
    yield made
    made.close()
