"""The pieces of read-your-writes on their own: WAL positions in a real Redis
(only ever raised, shared by every node), and how a replica's lag is measured."""

from __future__ import annotations

from collections import deque

import pytest

from kuledger.storage.replicas import lag_behind
from kuledger.storage.wal_positions import UNKNOWN, WalPositions, lsn_value
from tests.support.server import free_port
from tests.system.processes import RedisServer


def test_a_pg_lsn_is_read_as_one_number():
    assert lsn_value("0/0") == 0
    assert lsn_value("16/B374D848") == 0x16_B374D848
    assert lsn_value("1/0") > lsn_value("0/FFFFFFFF")


def test_positions_only_grow_and_every_node_sees_them(replica_redis: RedisServer):
    writer = WalPositions(replica_redis.url, ttl_ms=60_000)
    other_node = WalPositions(replica_redis.url, ttl_ms=60_000)
    try:
        assert other_node.required("nobody") == 0
        writer.record(["alice", "bob"], 0x2_00000010)
        other_node.record(["alice"], 0x1_00000000)  # an older commit, told later
        assert other_node.required("alice") == 0x2_00000010
        assert writer.required("bob") == 0x2_00000010
        other_node.record(["bob"], 0x3_00000000)
        assert writer.required("bob") == 0x3_00000000
    finally:
        writer.close()
        other_node.close()


def test_without_redis_reads_go_to_the_primary_and_writes_are_not_failed():
    positions = WalPositions(f"redis://127.0.0.1:{free_port()}/0", ttl_ms=60_000)
    try:
        positions.record(["alice"], 42)  # logs a warning, raises nothing
        assert positions.required("alice") == UNKNOWN
        assert positions.required("nobody") == UNKNOWN
    finally:
        positions.close()


def test_lag_is_the_age_of_the_newest_primary_position_the_replica_has_passed():
    samples = deque([(10.0, 100), (10.5, 200), (11.0, 300)])
    assert lag_behind(samples, 300, 11.2) == 0
    assert lag_behind(samples, 250, 11.2) == pytest.approx(700)  # at 10.5's
    assert lag_behind(samples, 50, 11.2) == pytest.approx(1200)  # older than all
    assert lag_behind(deque(), 0, 11.2) == 0
