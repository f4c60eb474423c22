"""The connection limits `kuledger serve` derives from the settings and the
open-file limit (the protocol that applies them: tests/system/test_exhaustion.py)."""

from __future__ import annotations

import pytest

from kuledger.config import ConfigError, Settings
from kuledger.http.server_limits import descriptor_budget, limits_for


def test_the_budget_keeps_descriptors_for_the_pools_and_the_backlog():
    # 64 + 3 * (2 * 5 + 8 + 2) = 124 kept; the backlog is at most 2048.
    assert descriptor_budget(20_000, pool_size=5, threads=8) == (17_828, 2048)
    assert descriptor_budget(1024, pool_size=5, threads=8) == (900 - 112, 112)
    assert descriptor_budget(20_000, pool_size=50, threads=8) == (17_558, 2048)


@pytest.mark.parametrize(
    ("open_files", "cap", "closed_past"),
    [(1024, 709, 779), (20_000, 10_000, 11_000), (1 << 20, 10_000, 11_000)],
)
def test_the_default_cap_is_10000_or_nine_tenths_of_the_budget(
    open_files, cap, closed_past
):
    limits = limits_for(Settings(), open_files)
    assert (limits.max_connections, limits.descriptor_cap) == (cap, closed_past)


def test_a_set_cap_is_kept_and_closing_starts_a_tenth_past_it():
    limits = limits_for(Settings(max_connections=20), 20_000)
    assert (limits.max_connections, limits.descriptor_cap) == (20, 36)
    limits = limits_for(Settings(max_connections=5000), 20_000)
    assert (limits.max_connections, limits.descriptor_cap) == (5000, 5500)


def test_the_timeouts_come_from_the_settings():
    settings = Settings(request_timeout_s=3, keepalive_timeout_s=75, send_timeout_s=9)
    limits = limits_for(settings, 20_000)
    assert (
        limits.request_timeout_s,
        limits.keepalive_timeout_s,
        limits.send_timeout_s,
    ) == (3, 75, 9)


@pytest.mark.parametrize(
    ("settings", "open_files", "message"),
    [
        (Settings(max_connections=17_829), 20_000, "KULEDGER_MAX_CONNECTIONS must be"),
        (Settings(max_connections=-1), 20_000, "KULEDGER_MAX_CONNECTIONS must be"),
        (Settings(), 150, r"the open-file limit \(150\) leaves 10 connections"),
        (Settings(request_timeout_s=0), 20_000, "KULEDGER_REQUEST_TIMEOUT_S must"),
        (Settings(send_timeout_s=0), 20_000, "KULEDGER_SEND_TIMEOUT_S must"),
    ],
)
def test_limits_that_cannot_work_stop_the_server_with_one_line(
    settings, open_files, message
):
    with pytest.raises(ConfigError, match=message):
        limits_for(settings, open_files)
