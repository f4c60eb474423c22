"""Settings: declared once each, read from the environment, masked when shown."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from kuledger.config import (
    SETTINGS,
    ConfigError,
    Setting,
    Settings,
    hide_password,
    show,
)

# A value for every variable, unlike its default, and what it parses to.
SAMPLES: dict[str, tuple[str, Any]] = {
    "KULEDGER_DATABASE_URL": (
        "postgresql://app@db/ledger",
        "postgresql://app@db/ledger",
    ),
    "KULEDGER_SECRET_KEY": ("a long random string", "a long random string"),
    "KULEDGER_SECRET_KEY_FILE": ("/etc/kuledger.key", "/etc/kuledger.key"),
    "KULEDGER_RETENTION_DAYS": ("30", 30),
    "KULEDGER_BIZ_TYPE_STYLE": ("display", "display"),
    "KULEDGER_TIMESTAMP_TOLERANCE_MS": ("1000", 1000),
    "KULEDGER_KEY_CACHE_TTL_S": ("5", 5),
    "KULEDGER_TRUSTED_PROXIES": ("10.0.0.0/8", "10.0.0.0/8"),
    "KULEDGER_POOL_SIZE": ("9", 9),
    "KULEDGER_THREADS": ("3", 3),
    "KULEDGER_INLINE_READS": ("off", "off"),
    "KULEDGER_MAX_CONNECTIONS": ("500", 500),
    "KULEDGER_REQUEST_TIMEOUT_S": ("30", 30),
    "KULEDGER_KEEPALIVE_TIMEOUT_S": ("75", 75),
    "KULEDGER_SEND_TIMEOUT_S": ("5", 5),
    "KULEDGER_RATELIMIT": ("OFF", False),
    "KULEDGER_RATELIMIT_QUOTAS": (
        "Management=100000, Spot=5",
        {"Management": 100000, "Spot": 5},
    ),
    "KULEDGER_RATELIMIT_WEIGHTS": (
        "GET /api/v1/accounts/ledgers=1",
        {"GET /api/v1/accounts/ledgers": 1},
    ),
    "KULEDGER_RATELIMIT_WINDOW_MS": ("1000", 1000),
    "KULEDGER_REDIS_URL": ("redis://cache:6379/0", "redis://cache:6379/0"),
    "KULEDGER_READ_DATABASE_URLS": (
        " postgresql://r1/db, postgresql://r2:5433/db,",
        ("postgresql://r1/db", "postgresql://r2:5433/db"),
    ),
    "KULEDGER_REPLICA_MAX_LAG_MS": ("250", 250),
    "KULEDGER_RATELIMIT_ON_REDIS_ERROR": ("open", "open"),
    "KULEDGER_WS_PUBLIC_URL": (
        "wss://l.example/ws/private",
        "wss://l.example/ws/private",
    ),
    "KULEDGER_WS_PING_INTERVAL_MS": ("5000", 5000),
    "KULEDGER_WS_PING_TIMEOUT_MS": ("2000", 2000),
    "KULEDGER_MONITOR_HOST": ("::1", "::1"),
    "KULEDGER_MONITOR_PORT": ("9108", 9108),
    "KULEDGER_LOG_LEVEL": ("debug", "debug"),
    "KULEDGER_OPERATOR_HOST": ("0.0.0.0", "0.0.0.0"),
    "KULEDGER_OPERATOR_PORT": ("8001", 8001),
    "KULEDGER_OPERATOR_TLS_CERT": ("/etc/kuledger/op.crt", "/etc/kuledger/op.crt"),
    "KULEDGER_OPERATOR_TLS_KEY": ("/etc/kuledger/op.key", "/etc/kuledger/op.key"),
    "KULEDGER_OPERATOR_TLS_CLIENT_CA": ("/etc/kuledger/ca.crt", "/etc/kuledger/ca.crt"),
    "KULEDGER_GROUP_COMMIT": ("false", False),
    "KULEDGER_GROUP_COMMIT_MAX_OPS": ("50", 50),
    "KULEDGER_GROUP_COMMIT_WAIT_US": ("250", 250),
}


def test_every_settings_field_is_declared_once_with_a_variable_and_help():
    assert [s.name for s in SETTINGS] == [f.name for f in fields(Settings)]
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    for setting in SETTINGS:
        assert setting.env.startswith("KULEDGER_"), setting.name
        assert setting.help.strip(), f"{setting.env} has no help text"
        assert "|" not in setting.help, f"{setting.env}: a | breaks the docs table"
        assert setting.kind, f"{setting.env} has no type"


def test_the_defaults_parse_and_are_what_an_empty_environment_gives():
    assert Settings() == Settings.from_env({})


def test_every_setting_has_a_sample_here():
    assert sorted(SAMPLES) == sorted(s.env for s in SETTINGS)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_each_setting_is_read_from_its_variable(setting: Setting):
    raw, expected = SAMPLES[setting.env]
    settings = Settings.from_env({setting.env: raw})
    assert getattr(settings, setting.name) == expected
    assert getattr(Settings(), setting.name) != expected, "sample equals the default"


def test_a_set_but_empty_variable_takes_the_empty_value_not_the_default():
    assert Settings.from_env({"KULEDGER_RATELIMIT": ""}).ratelimit is False
    with pytest.raises(ConfigError, match="KULEDGER_THREADS"):
        Settings.from_env({"KULEDGER_THREADS": ""})


@pytest.mark.parametrize(
    ("env", "raw"),
    [
        ("KULEDGER_POOL_SIZE", "five"),
        ("KULEDGER_RATELIMIT", "maybe"),
        ("KULEDGER_BIZ_TYPE_STYLE", "Display"),
        ("KULEDGER_INLINE_READS", "yes"),
        ("KULEDGER_RATELIMIT_QUOTAS", "Spot"),
        ("KULEDGER_MONITOR_PORT", "65536"),
        ("KULEDGER_MONITOR_PORT", "-1"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_its_variable(env: str, raw: str):
    with pytest.raises(ConfigError, match=f"^{env}: "):
        Settings.from_env({env: raw})


def test_overrides_win_over_the_environment():
    settings = Settings.from_env({"KULEDGER_THREADS": "3"}, threads=4)
    assert settings.threads == 4


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://app:s3cret@db:5432/ledger",
            "postgresql://app:***@db:5432/ledger",
        ),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "postgresql://app@db/ledger?password=s3cret&x=1",
            "postgresql://app@db/ledger?password=***&x=1",
        ),
        ("postgresql://app@db/ledger", "postgresql://app@db/ledger"),
        ("sqlite:///kuledger.db", "sqlite:///kuledger.db"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("", ""),
    ],
)
def test_hide_password_masks_only_the_password(url: str, shown: str):
    assert hide_password(url) == shown


def test_the_repr_shows_neither_the_secret_key_nor_a_url_password():
    settings = Settings.from_env(
        {
            "KULEDGER_SECRET_KEY": "k-e-y",
            "KULEDGER_DATABASE_URL": "postgresql://app:pw-db@db/ledger",
            "KULEDGER_REDIS_URL": "redis://:pw-redis@cache:6379/0",
            "KULEDGER_READ_DATABASE_URLS": "postgresql://app:pw-replica@r1/ledger",
        }
    )
    text = repr(settings)
    for secret in ("k-e-y", "pw-db", "pw-redis", "pw-replica"):
        assert secret not in text
    assert "secret_key='***'" in text
    assert "database_url='postgresql://app:***@db/ledger'" in text
    assert "secret_key=''" in repr(Settings()), "an empty key shows as empty"


def test_show_gives_each_setting_its_source_and_masks_secrets():
    environ = {
        "KULEDGER_SECRET_KEY": "k-e-y",
        "KULEDGER_REDIS_URL": "redis://:pw@cache:6379/0",
        "KULEDGER_THREADS": "3",
    }
    shown = {s.setting.name: s for s in show(environ)}
    assert list(shown) == [s.name for s in SETTINGS]
    assert (shown["threads"].value, shown["threads"].text) == (3, "3")
    assert shown["threads"].source == "KULEDGER_THREADS"
    assert shown["pool_size"].source == "default"
    assert (shown["secret_key"].value, shown["secret_key"].text) == ("***", "***")
    assert shown["redis_url"].value == "redis://:***@cache:6379/0"
    assert shown["redis_url"].text == "redis://:***@cache:6379/0"
    assert shown["ratelimit"].value is True


def test_show_fails_on_a_bad_value_like_every_command():
    with pytest.raises(ConfigError, match="KULEDGER_THREADS"):
        show({"KULEDGER_THREADS": "many"})
