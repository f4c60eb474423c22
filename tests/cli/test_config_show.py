"""kuledger config --show: every setting, its value and its source, secrets masked."""

from __future__ import annotations

import json

import pytest

from kuledger.config import SETTINGS
from tests.cli.conftest import invoke


def _table(output: str) -> dict[str, tuple[str, str]]:
    """{setting: (value, source)} from the table, header row left out."""
    rows = {}
    for line in output.splitlines()[1:]:
        name, rest = line.split(maxsplit=1)
        value, source = rest.rsplit(maxsplit=1)
        rows[name] = (value, source)
    return rows


def test_show_lists_every_setting_with_default_as_its_source():
    result = invoke("config", "--show")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["setting", "value", "source"]
    rows = _table(result.output)
    assert list(rows) == [s.name for s in SETTINGS]
    assert rows["database_url"] == ("sqlite:///kuledger.db", "default")
    assert rows["secret_key"] == ("(empty)", "default")
    assert rows["ratelimit"] == ("on", "default")


def test_show_names_the_variable_a_value_came_from_and_masks_secrets(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("KULEDGER_DATABASE_URL", "postgresql://app:pw-db@db/ledger")
    monkeypatch.setenv("KULEDGER_REDIS_URL", "redis://:pw-redis@cache:6379/0")
    monkeypatch.setenv("KULEDGER_SECRET_KEY", "k-e-y")
    monkeypatch.setenv("KULEDGER_RATELIMIT_WEIGHTS", "GET /api/v1/accounts/ledgers=1")
    result = invoke("config", "--show")
    assert result.exit_code == 0, result.output
    for secret in ("pw-db", "pw-redis", "k-e-y"):
        assert secret not in result.output
    rows = _table(result.output)
    assert rows["database_url"] == (
        "postgresql://app:***@db/ledger",
        "KULEDGER_DATABASE_URL",
    )
    assert rows["redis_url"] == ("redis://:***@cache:6379/0", "KULEDGER_REDIS_URL")
    assert rows["secret_key"] == ("***", "KULEDGER_SECRET_KEY")
    assert rows["ratelimit_weights"] == (
        "GET /api/v1/accounts/ledgers=1",
        "KULEDGER_RATELIMIT_WEIGHTS",
    )
    assert rows["threads"] == ("8", "default")


def test_show_json_is_one_object_of_parsed_masked_values(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("KULEDGER_SECRET_KEY", "k-e-y")
    monkeypatch.setenv("KULEDGER_THREADS", "3")
    monkeypatch.setenv("KULEDGER_RATELIMIT_QUOTAS", "Spot=5")
    result = invoke("config", "--show", "--json")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 1
    shown = json.loads(result.output)
    assert list(shown) == [s.name for s in SETTINGS]
    assert shown["threads"] == {
        "env": "KULEDGER_THREADS",
        "value": 3,
        "source": "KULEDGER_THREADS",
    }
    assert shown["secret_key"]["value"] == "***"
    assert shown["ratelimit"] == {
        "env": "KULEDGER_RATELIMIT",
        "value": True,
        "source": "default",
    }
    assert shown["ratelimit_quotas"]["value"] == {"Spot": 5}
    assert "k-e-y" not in result.output


def test_a_bad_value_fails_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("KULEDGER_POOL_SIZE", "five")
    result = invoke("config", "--show")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: KULEDGER_POOL_SIZE: invalid literal for int() with base 10: 'five'"
    ]


def test_without_show_it_is_a_usage_error():
    result = invoke("config")
    assert result.exit_code == 2
    assert "pass --show" in result.output
