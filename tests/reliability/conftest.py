"""Reliability fixtures: the private, killable redis-server of tests/scaleout."""

from __future__ import annotations

from tests.scaleout.conftest import private_redis

__all__ = ["private_redis"]
