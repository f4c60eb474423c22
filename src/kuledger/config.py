"""Settings, declared once each, read once from the environment (or a dict in tests)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Setting:
    name: str  # field of Settings
    env: str
    default: str
    help: str
    cast: Callable[[str], Any] = str


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _choice(*allowed: str) -> Callable[[str], str]:
    def cast(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}, got {text!r}")
        return text

    return cast


def _pairs(text: str) -> dict[str, int]:
    """Parse 'name=int,name=int' (names may contain spaces and slashes)."""
    pairs: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise ValueError(f"expected name=integer, got {item!r}")
        pairs[name.strip()] = int(value)
    return pairs


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "KULEDGER_DATABASE_URL",
        "sqlite:///kuledger.db",
        "SQLAlchemy URL: sqlite:///path.db or postgresql://user@host/db",
    ),
    Setting(
        "secret_key",
        "KULEDGER_SECRET_KEY",
        "",
        "key that seals API secrets at rest (a Fernet key or any long random "
        "string); if empty, the key file is used",
    ),
    Setting(
        "secret_key_file",
        "KULEDGER_SECRET_KEY_FILE",
        "",
        "key file created by `kuledger init` (mode 0600); default: the SQLite "
        "database path plus .key, or ./kuledger.key for PostgreSQL",
    ),
    Setting(
        "retention_days",
        "KULEDGER_RETENTION_DAYS",
        "365",
        "how far back ledger queries may reach, in days",
        int,
    ),
    Setting(
        "biz_type_style",
        "KULEDGER_BIZ_TYPE_STYLE",
        "code",
        "spelling of bizType in spot ledger responses: code (TRADE_EXCHANGE) "
        "or display (Trade_Exchange)",
        _choice("code", "display"),
    ),
    Setting(
        "timestamp_tolerance_ms",
        "KULEDGER_TIMESTAMP_TOLERANCE_MS",
        "5000",
        "how far KC-API-TIMESTAMP may be from server time, either way",
        int,
    ),
    Setting(
        "trusted_proxies",
        "KULEDGER_TRUSTED_PROXIES",
        "",
        "comma-separated CIDRs whose X-Forwarded-For is believed",
        str,
    ),
    Setting(
        "pool_size",
        "KULEDGER_POOL_SIZE",
        "5",
        "write connections per API worker (PostgreSQL); reads have a pool of "
        "their own (KULEDGER_THREADS + 2)",
        int,
    ),
    Setting(
        "threads",
        "KULEDGER_THREADS",
        "8",
        "threads per API worker that run database work; each holds one read "
        "connection (SQLite) or has one in the read pool (PostgreSQL)",
        int,
    ),
    Setting(
        "ratelimit",
        "KULEDGER_RATELIMIT",
        "on",
        "KuCoin rate-limit pools: on or off",
        _bool,
    ),
    Setting(
        "ratelimit_quotas",
        "KULEDGER_RATELIMIT_QUOTAS",
        "",
        "quota overrides for every VIP level, e.g. Management=100000,Spot=50000",
        _pairs,
    ),
    Setting(
        "ratelimit_weights",
        "KULEDGER_RATELIMIT_WEIGHTS",
        "",
        "weight overrides, e.g. 'GET /api/v1/accounts/ledgers=1'",
        _pairs,
    ),
    Setting(
        "ratelimit_window_ms",
        "KULEDGER_RATELIMIT_WINDOW_MS",
        "30000",
        "length of a rate-limit window",
        int,
    ),
    Setting(
        "redis_url",
        "KULEDGER_REDIS_URL",
        "",
        "Redis for the shared rate limiter and the balance stream's fan-out; "
        "empty: in-process ones, right for one worker",
    ),
    Setting(
        "ratelimit_on_redis_error",
        "KULEDGER_RATELIMIT_ON_REDIS_ERROR",
        "closed",
        "when Redis is unreachable: closed (answer 503000) or open (admit)",
        _choice("closed", "open"),
    ),
    Setting(
        "ws_public_url",
        "KULEDGER_WS_PUBLIC_URL",
        "",
        "the private WebSocket endpoint POST /api/v1/bullet-private returns, e.g. "
        "wss://ledger.example.com/ws/private; empty: ws://<Host called>/ws/private",
    ),
    Setting(
        "ws_ping_interval_ms",
        "KULEDGER_WS_PING_INTERVAL_MS",
        "18000",
        "the pingInterval the token endpoint announces, in ms",
        int,
    ),
    Setting(
        "ws_ping_timeout_ms",
        "KULEDGER_WS_PING_TIMEOUT_MS",
        "10000",
        "the pingTimeout it announces; a connection silent for pingInterval + "
        "pingTimeout is closed",
        int,
    ),
    Setting(
        "log_level",
        "KULEDGER_LOG_LEVEL",
        "info",
        "log level: debug, info, warning, error",
        _choice("debug", "info", "warning", "error"),
    ),
)


class ConfigError(Exception):
    """Raised when an environment variable has a value its setting cannot take."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    secret_key: str
    secret_key_file: str
    retention_days: int
    biz_type_style: str
    timestamp_tolerance_ms: int
    trusted_proxies: str
    pool_size: int
    threads: int
    ratelimit: bool
    ratelimit_quotas: dict[str, int]
    ratelimit_weights: dict[str, int]
    ratelimit_window_ms: int
    redis_url: str
    ratelimit_on_redis_error: str
    ws_public_url: str
    ws_ping_interval_ms: int
    ws_ping_timeout_ms: int
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env, setting.default)
            try:
                values[setting.name] = setting.cast(raw)
            except ValueError as exc:
                raise ConfigError(f"{setting.env}: {exc}") from None
        values.update(overrides)
        return cls(**values)

    def __repr__(self) -> str:  # never show the secret key
        def show(name: str) -> str:
            hidden = name == "secret_key" and self.secret_key
            return "'***'" if hidden else repr(getattr(self, name))

        shown = ", ".join(f"{f.name}={show(f.name)}" for f in fields(self))
        return f"Settings({shown})"

    @property
    def key_file(self) -> Path:
        if self.secret_key_file:
            return Path(self.secret_key_file)
        db = sqlite_file(self.database_url)
        return db.with_name(db.name + ".key") if db else Path("kuledger.key")


def sqlite_file(url: str) -> Path | None:
    """The file of a sqlite:///path URL; None for other engines and memory."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def settings_from_environment(**overrides: Any) -> Settings:
    """Settings from this process's environment: the one place it is read."""
    import os

    return Settings.from_env(os.environ, **overrides)


# -- Client credentials: what `kuledger export` signs with --------------------
# Not Settings: the server never reads them. Profiles live in a TOML file, one
# table per profile (see docs/export.md).

API_CREDENTIAL_ENV = {
    "key": "KULEDGER_API_KEY",
    "secret": "KULEDGER_API_SECRET",
    "passphrase": "KULEDGER_API_PASSPHRASE",
    "key_version": "KULEDGER_API_KEY_VERSION",
}
_PROFILE_FIELDS = {
    "base_url": str,
    "futures_base_url": str,
    "key": str,
    "secret": str,
    "passphrase": str,
    "key_version": int,
}


@dataclass(frozen=True, slots=True)
class ApiProfile:
    """Where and as whom a client command connects; any field may be unset."""

    base_url: str | None = None
    futures_base_url: str | None = None
    key: str | None = None
    secret: str | None = None
    passphrase: str | None = None
    key_version: int | None = None

    def __repr__(self) -> str:  # never show the secret or the passphrase
        return (
            f"ApiProfile(base_url={self.base_url!r}, key={self.key!r}, "
            f"key_version={self.key_version!r}, secret=***, passphrase=***)"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApiProfile:
        values: dict[str, Any] = {
            name: environ.get(env) or None for name, env in API_CREDENTIAL_ENV.items()
        }
        if values["key_version"] is not None:
            try:
                values["key_version"] = _key_version(values["key_version"])
            except ValueError as exc:
                raise ConfigError(
                    f"{API_CREDENTIAL_ENV['key_version']}: {exc}"
                ) from None
        return cls(**values)

    def or_else(self, other: ApiProfile) -> ApiProfile:
        """This profile's fields, with `other`'s where this one has none."""
        return ApiProfile(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(other, f.name)
                for f in fields(self)
            }
        )


def _key_version(value: object) -> int:
    if str(value) not in ("1", "2", "3"):
        raise ValueError(f"key version must be 1, 2 or 3, got {value!r}")
    return int(str(value))


def default_profiles_file(environ: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/kuledger/profiles.toml (default ~/.config/...)."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kuledger" / "profiles.toml"


def load_profile(path: Path, name: str) -> ApiProfile:
    """The table `name` of a TOML profiles file, e.g.

    [local]
    base_url = "http://127.0.0.1:8000"
    key = "..."
    secret = "..."
    passphrase = "..."
    """
    import tomllib

    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"profiles file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profiles file {path}: {exc}") from None
    table = document.get(name)
    if not isinstance(table, dict):
        raise ConfigError(f"profiles file {path} has no profile [{name}]")
    values: dict[str, Any] = {}
    for key, value in table.items():
        expected = _PROFILE_FIELDS.get(key)
        if expected is None:
            raise ConfigError(f"profile [{name}]: unknown field {key!r}")
        if key == "key_version":
            try:
                value = _key_version(value)
            except ValueError as exc:
                raise ConfigError(f"profile [{name}]: {exc}") from None
        elif not isinstance(value, expected):
            raise ConfigError(f"profile [{name}]: {key} must be a string")
        values[key] = value
    return ApiProfile(**values)


def api_profile_from_environment() -> tuple[ApiProfile, Path]:
    """Credentials from KULEDGER_API_* and the default profiles file's path:
    the client commands' one read of the environment."""
    import os

    return ApiProfile.from_env(os.environ), default_profiles_file(os.environ)
