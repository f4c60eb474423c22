"""System tests: real `kuledger serve` processes, signals, crashes, workers and
Redis (for what needs a socket or a process; the app itself is tested in process).

`private_redis` listens on a free 127.0.0.1 port, saves nothing to disk and
belongs to one test, so a test may kill and restart it without touching the
shared Redis other tests use. Without redis-server the tests skip with the
reason, except under CI=true, where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.processes import RedisServer, private_redis_server


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, on a free port; killed at teardown."""
    with private_redis_server(tmp_path / "redis") as server:
        yield server
