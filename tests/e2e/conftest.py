"""A real server subprocess per test module and engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import LiveServer, live_server


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """`kuledger serve` on a fresh database (SQLite file or PostgreSQL)."""
    with live_server(database_url, tmp_path) as running:
        yield running
