"""System tests: real `kuledger serve` processes, signals, crashes, workers and
Redis (for what needs a socket or a process; the app itself is tested in process).

`private_redis` listens on a free 127.0.0.1 port, saves nothing to disk and
belongs to one test, so a test may kill and restart it without touching the
shared Redis other tests use. Without redis-server the tests skip with the
reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import free_port
from tests.system.processes import IN_CI, RedisServer


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, on a free port; killed at teardown."""
    executable = shutil.which("redis-server")
    if executable is None:
        if IN_CI:
            pytest.fail("redis-server is required under CI but is not installed")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(executable, free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()
