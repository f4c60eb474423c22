"""`--since Nd` (days ago), and the README's export example staying valid."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from kuledger.cli.export import Job, Moving, _start, parse_time
from kuledger.domain.times import DAY_MS

README = Path(__file__).resolve().parents[2] / "README.md"
KUCOIN_RETENTION_DAYS = 365


def test_days_ago_counts_back_from_now():
    now = 1_800_000_000_000
    assert parse_time("30d", now=now) == now - 30 * DAY_MS
    assert parse_time(" 0d ", now=now) == now


@pytest.mark.parametrize("years_later", [0, 1, 5])
def test_the_readme_export_example_is_within_the_retention_horizon(years_later):
    [since] = re.findall(r"kuledger export .*--since (\S+)", README.read_text())
    now = int(time.time() * 1000) + years_later * 365 * DAY_MS
    start = parse_time(since, now=now)
    assert now - KUCOIN_RETENTION_DAYS * DAY_MS < start <= now, (
        f"README's `--since {since}` is beyond {KUCOIN_RETENTION_DAYS} days"
    )


def _job(since: int, until: int) -> Job:
    return Job("http://k", "http://k", ("spot",), (), "jsonl", since, until)


def test_a_resumed_export_keeps_the_first_runs_days_ago(tmp_path):
    out = tmp_path / "history.jsonl"
    _, handle = _start(_job(1000, 9000), out, False, Moving(True, True))
    handle.close()
    # The next day, `--since 30d` and the default --until are one day later.
    again, handle = _start(
        _job(1000 + DAY_MS, 9000 + DAY_MS), out, True, Moving(True, True)
    )
    handle.close()
    assert (again.options["since"], again.options["until"]) == (1000, 9000)
