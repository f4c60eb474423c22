"""`kuledger retention` through click's CliRunner, on a SQLite file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kuledger.bootstrap import wall_clock_ms
from kuledger.cli.main import cli
from kuledger.services import ledger, users
from tests.conftest import make_container

DAY = 86_400_000


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    """A database with entries 100, 50 and 1 days old, kept for 30 days."""
    c = make_container(sqlite_url)
    users.create_user(c.uow, c.clock, uid="u1")
    now = wall_clock_ms()
    for op_id, days in (("old1", 100), ("old2", 50), ("new", 1)):
        payload = {
            "op": "deposit",
            "uid": "u1",
            "id": op_id,
            "currency": "USDT",
            "amount": "10",
            "at": now - days * DAY,
        }
        ledger.apply(c.uow, payload, c.clock)
    c.close()
    return {"KULEDGER_DATABASE_URL": sqlite_url, "KULEDGER_RETENTION_DAYS": "30"}


def _run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_retention_without_apply_only_reports(env):
    out = _run(env, "retention")
    assert "retention 30 days: horizon " in out
    assert "beyond it: 2 entries of 1 accounts" in out
    assert "2 operation records" in out
    assert "dry run: nothing deleted" in out
    report = json.loads(_run(env, "retention", "--json"))
    assert report["applied"] is False
    assert report["removed"] is None
    assert report["expired"]["entries"] == 2
    assert report["expired"]["operations"] == 2
    assert report["expired"]["partitions"] == []
    assert "3 entries checked" in _run(env, "verify")


def test_retention_apply_deletes_the_old_history_and_verify_still_passes(env):
    out = _run(env, "retention", "--apply")
    assert "deleted 2 entries and 2 operation records" in out
    assert "OK: 1 accounts, 1 entries checked" in _run(env, "verify")
    accounts = json.loads(_run(env, "accounts", "--uid", "u1", "--json"))
    assert [a["balance"] for a in accounts] == ["30"]
    again = json.loads(_run(env, "retention", "--apply", "--json"))
    assert again["applied"] is True
    assert again["expired"]["entries"] == 0
    assert again["removed"] == {"entries": 0, "operations": 0, "partitions": []}
