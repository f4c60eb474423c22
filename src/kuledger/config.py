"""Settings, declared once each, read once from the environment (or a dict in tests).

Each field of `Settings` carries its variable, default, help text and parser;
`SETTINGS`, the environment reader, `kuledger config --show` and the table in
docs/config.md are derived from those fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True, slots=True)
class _Choice:
    allowed: tuple[str, ...]

    def __call__(self, text: str) -> str:
        if text not in self.allowed:
            raise ValueError(f"one of {', '.join(self.allowed)}, got {text!r}")
        return text

    @property
    def kind(self) -> str:
        *rest, last = (f"`{a}`" for a in self.allowed)
        return f"{', '.join(rest)} or {last}"


def _pairs(text: str) -> dict[str, int]:
    """Parse 'name=int,name=int' (names may contain spaces and slashes)."""
    pairs: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise ValueError(f"expected name=integer, got {item!r}")
        pairs[name.strip()] = int(value)
    return pairs


def _urls(text: str) -> tuple[str, ...]:
    """Parse 'url,url' (each checked where it is used: storage/replicas.py)."""
    return tuple(filter(None, (u.strip() for u in text.split(","))))


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"a port is 0 to 65535, got {port}")
    return port


_KINDS: dict[Callable[[str], Any], str] = {
    int: "integer",
    _port: "port",
    _bool: "boolean",
    _pairs: "`name=int,...`",
    _urls: "URL list",
}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as declared on its `Settings` field."""

    name: str  # field of Settings
    env: str
    default: str  # as the variable would spell it
    help: str
    cast: Callable[[str], Any] = str
    kind: str = "string"  # what docs/config.md calls its type
    secret: bool = False  # never printed


def _setting(
    env: str,
    default: str,
    help: str,
    cast: Callable[[str], Any] = str,
    *,
    kind: str = "",
    secret: bool = False,
) -> Any:
    """A `Settings` field: its variable, default, help text and parser."""
    if not kind:
        kind = cast.kind if isinstance(cast, _Choice) else _KINDS.get(cast, "string")
    declared = {"env": env, "default": default, "help": help, "cast": cast}
    return field(
        default_factory=lambda: cast(default),
        metadata={**declared, "kind": kind, "secret": secret},
    )


class ConfigError(Exception):
    """Raised when an environment variable has a value its setting cannot take."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What a process runs with. `Settings()` is every default; `from_env` reads
    the variables."""

    database_url: str = _setting(
        "KULEDGER_DATABASE_URL",
        "sqlite:///kuledger.db",
        "the database, as a SQLAlchemy URL: `sqlite:///path.db` or "
        "`postgresql://user:password@host/db`",
        kind="URL",
    )
    read_database_urls: tuple[str, ...] = _setting(
        "KULEDGER_READ_DATABASE_URLS",
        "",
        "comma-separated `postgresql://` URLs of streaming replicas of the "
        "PostgreSQL database: users' ledger and account reads go to one that "
        "has replayed the user's last write, else to the primary. Needs "
        "KULEDGER_REDIS_URL (where every node records each user's last write). "
        "See operations.md#read-replicas",
        _urls,
    )
    replica_max_lag_ms: int = _setting(
        "KULEDGER_REPLICA_MAX_LAG_MS",
        "1000",
        "a replica lagging further behind the primary than this, in ms, is "
        "taken out of rotation until it catches up",
        int,
    )
    secret_key: str = _setting(
        "KULEDGER_SECRET_KEY",
        "",
        "the key that seals API secrets at rest: a Fernet key or any long random "
        "string. If it is empty, the key file is used",
        secret=True,
    )
    secret_key_file: str = _setting(
        "KULEDGER_SECRET_KEY_FILE",
        "",
        "the key file that `kuledger init` creates with mode 0600. Empty means the "
        "SQLite database path plus `.key`, or `./kuledger.key` for PostgreSQL",
        kind="path",
    )
    retention_days: int = _setting(
        "KULEDGER_RETENTION_DAYS",
        "365",
        "how far back ledger queries may reach, in days",
        int,
    )
    biz_type_style: str = _setting(
        "KULEDGER_BIZ_TYPE_STYLE",
        "code",
        "how `bizType` is spelled in spot ledger responses: `code` "
        "(`TRADE_EXCHANGE`) or `display` (`Trade_Exchange`)",
        _Choice(("code", "display")),
    )
    timestamp_tolerance_ms: int = _setting(
        "KULEDGER_TIMESTAMP_TOLERANCE_MS",
        "5000",
        "how far `KC-API-TIMESTAMP` may be from the server's time, either way, in ms",
        int,
    )
    key_cache_ttl_s: int = _setting(
        "KULEDGER_KEY_CACHE_TTL_S",
        "60",
        "seconds at most an API worker reuses an API key row it read, on "
        "PostgreSQL (a revoke or any other change to a key still reaches every "
        "worker within a second, by LISTEN/NOTIFY; this bounds a row's age "
        "besides). 0: read the key on every request. SQLite never caches them",
        int,
    )
    trusted_proxies: str = _setting(
        "KULEDGER_TRUSTED_PROXIES",
        "",
        "comma-separated CIDRs whose `X-Forwarded-For` is believed",
        kind="CIDR list",
    )
    pool_size: int = _setting(
        "KULEDGER_POOL_SIZE",
        "5",
        "write connections per API worker (PostgreSQL). Up to as many again may be "
        "opened as overflow. Reads have a pool of their own: `KULEDGER_THREADS` "
        "connections plus 2",
        int,
    )
    threads: int = _setting(
        "KULEDGER_THREADS",
        "8",
        "threads per API worker that run database work; on SQLite each holds one "
        "read connection (2 MiB page cache), on PostgreSQL the read pool has one "
        "for each",
        int,
    )
    inline_reads: str = _setting(
        "KULEDGER_INLINE_READS",
        "auto",
        "where the short reads (the ledgers, the accounts) run: `on` the event "
        "loop, `off` in a worker thread, or `auto`: on the loop on SQLite, and on "
        "PostgreSQL when a round trip to it takes at most 0.5 ms (measured as "
        "each worker starts: the same machine or a fast LAN). Never with read "
        "replicas or a Redis rate limiter, which wait on the network. See "
        "architecture.md#the-read-path",
        _Choice(("auto", "on", "off")),
    )
    max_connections: int = _setting(
        "KULEDGER_MAX_CONNECTIONS",
        "0",
        "open connections (WebSockets included) per API worker over which a "
        "request is answered `503000` and its connection closed. 0 means 10000, "
        "or nine tenths of what the open-file limit allows if that is less "
        "(`kuledger serve` raises the soft limit to the hard one)",
        int,
    )
    request_timeout_s: int = _setting(
        "KULEDGER_REQUEST_TIMEOUT_S",
        "10",
        "seconds a request has to arrive in full, headers and body, from the "
        "connection's opening or the request's first byte; then the connection "
        "is closed",
        int,
    )
    keepalive_timeout_s: int = _setting(
        "KULEDGER_KEEPALIVE_TIMEOUT_S",
        "5",
        "seconds an idle connection stays open after a response",
        int,
    )
    send_timeout_s: int = _setting(
        "KULEDGER_SEND_TIMEOUT_S",
        "30",
        "seconds a response may wait for a client that reads none of it; then "
        "the connection is closed",
        int,
    )
    ratelimit: bool = _setting(
        "KULEDGER_RATELIMIT",
        "on",
        "whether the KuCoin rate-limit pools apply: `on` or `off` (also `1`/`0`, "
        "`true`/`false`, `yes`/`no`)",
        _bool,
    )
    ratelimit_quotas: dict[str, int] = _setting(  # noqa: RUF009 (a field())
        "KULEDGER_RATELIMIT_QUOTAS",
        "",
        "quota overrides that apply at every VIP level, e.g. "
        "`Management=100000,Spot=50000`",
        _pairs,
    )
    ratelimit_weights: dict[str, int] = _setting(  # noqa: RUF009 (a field())
        "KULEDGER_RATELIMIT_WEIGHTS",
        "",
        "per-endpoint weight overrides, e.g. `GET /api/v1/accounts/ledgers=1`",
        _pairs,
    )
    ratelimit_window_ms: int = _setting(
        "KULEDGER_RATELIMIT_WINDOW_MS",
        "30000",
        "the length of a rate-limit window, in ms",
        int,
    )
    redis_url: str = _setting(
        "KULEDGER_REDIS_URL",
        "",
        "the Redis server that the shared rate limiter and the balance stream's "
        "fan-out use. Empty means an in-process limiter and event bus, which are "
        "right for one worker",
        kind="URL",
    )
    ratelimit_on_redis_error: str = _setting(
        "KULEDGER_RATELIMIT_ON_REDIS_ERROR",
        "closed",
        "what to do while Redis is unreachable: `closed` answers `503000`, `open` "
        "admits the request",
        _Choice(("closed", "open")),
    )
    ws_public_url: str = _setting(
        "KULEDGER_WS_PUBLIC_URL",
        "",
        "the private WebSocket endpoint that `POST /api/v1/bullet-private` returns, "
        "e.g. `wss://ledger.example.com/ws/private` behind a TLS proxy. Empty means "
        "`ws://` (or `wss://` for HTTPS) plus the host the client called, plus "
        "`/ws/private`",
        kind="URL",
    )
    ws_ping_interval_ms: int = _setting(
        "KULEDGER_WS_PING_INTERVAL_MS",
        "18000",
        "the `pingInterval` the token endpoint announces, in ms",
        int,
    )
    ws_ping_timeout_ms: int = _setting(
        "KULEDGER_WS_PING_TIMEOUT_MS",
        "10000",
        "the `pingTimeout` it announces, in ms. A connection from which nothing "
        "arrives for `pingInterval` + `pingTimeout` is closed",
        int,
    )
    monitor_host: str = _setting(
        "KULEDGER_MONITOR_HOST",
        "127.0.0.1",
        "the address of the monitoring listener (`/healthz`, `/readyz`, "
        "`/metrics`), never the API's port",
        kind="host",
    )
    monitor_port: int = _setting(
        "KULEDGER_MONITOR_PORT",
        "0",
        "the monitoring listener's port, e.g. `9108`. `0` means no listener of "
        "its own (the operator listener, if on, still serves the three paths); "
        "with both ports 0 no metrics are recorded",
        _port,
    )
    log_level: str = _setting(
        "KULEDGER_LOG_LEVEL",
        "info",
        "the log level",
        _Choice(("debug", "info", "warning", "error")),
    )
    operator_host: str = _setting(
        "KULEDGER_OPERATOR_HOST",
        "127.0.0.1",
        "the address of the operator API's listener (`/operator/v1/...`), never "
        "the KuCoin port; see operator-api.md",
        kind="host",
    )
    operator_port: int = _setting(
        "KULEDGER_OPERATOR_PORT",
        "0",
        "the operator API's port, e.g. `8001`. `0` means no operator listener",
        _port,
    )
    operator_tls_cert: str = _setting(
        "KULEDGER_OPERATOR_TLS_CERT",
        "",
        "a PEM certificate (chain) for the operator listener: with "
        "KULEDGER_OPERATOR_TLS_KEY it speaks TLS (the KuCoin port does not). "
        "See operator-api.md#tls-and-client-certificates",
        kind="path",
    )
    operator_tls_key: str = _setting(
        "KULEDGER_OPERATOR_TLS_KEY",
        "",
        "the PEM private key of KULEDGER_OPERATOR_TLS_CERT",
        kind="path",
    )
    operator_tls_client_ca: str = _setting(
        "KULEDGER_OPERATOR_TLS_CLIENT_CA",
        "",
        "PEM CA certificate(s): the operator listener then requires a client "
        "certificate they signed (mTLS), and its CN names the operator token "
        "whose scopes it gets",
        kind="path",
    )
    group_commit: bool = _setting(
        "KULEDGER_GROUP_COMMIT",
        "true",
        "coalesce concurrent writes (operator API operations, KuCoin transfers) "
        "into one transaction per batch, each operation still applied or refused "
        "on its own and answered after the commit; `false`: one transaction per "
        "operation. See operator-api.md#group-commit",
        _bool,
    )
    group_commit_max_ops: int = _setting(
        "KULEDGER_GROUP_COMMIT_MAX_OPS",
        "500",
        "operations at most in one group-commit transaction (a request is never "
        "split: a larger batch request is one transaction of its own)",
        int,
    )
    group_commit_wait_us: int = _setting(
        "KULEDGER_GROUP_COMMIT_WAIT_US",
        "1000",
        "how long, in microseconds, the group-commit writer waits for more "
        "operations before it commits a batch, while callers are concurrent (a "
        "lone caller is not made to wait). `0`: commit what has queued at once",
        int,
    )

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

    def __repr__(self) -> str:  # never show the secret key or a URL's password
        shown = ", ".join(
            f"{s.name}={masked(s, getattr(self, s.name))!r}" for s in SETTINGS
        )
        return f"Settings({shown})"

    @property
    def monitoring(self) -> bool:
        """Whether requests are measured: some listener serves /metrics (the
        monitoring one, or the operator API's)."""
        return self.monitor_port != 0 or self.operator_port != 0

    @property
    def key_file(self) -> Path:
        if self.secret_key_file:
            return Path(self.secret_key_file)
        db = sqlite_file(self.database_url)
        return db.with_name(db.name + ".key") if db else Path("kuledger.key")


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, **f.metadata) for f in fields(Settings)
)

_URL_PASSWORD = re.compile(r"(://[^/?#@:]*:)[^/?#@]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def hide_password(text: str) -> str:
    """`text` with the password of any URL in it (user:PASSWORD@, or
    ?password=) replaced by ***."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def masked(setting: Setting, value: Any) -> Any:
    """`value` fit to print: a secret's as ***, a URL's without its password."""
    if setting.secret and value:
        return "***"
    if isinstance(value, tuple):
        return tuple(masked(setting, v) for v in value)
    return hide_password(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Shown:
    """One setting as `kuledger config --show` prints it."""

    setting: Setting
    value: Any  # parsed, masked
    text: str  # as the variable spells it, masked
    source: str  # "default" or the variable's name


def show(environ: Mapping[str, str]) -> list[Shown]:
    """Every setting's value and where it comes from; ConfigError on a bad one."""
    settings = Settings.from_env(environ)
    return [
        Shown(
            setting,
            masked(setting, getattr(settings, setting.name)),
            masked(setting, environ.get(setting.env, setting.default)),
            setting.env if setting.env in environ else "default",
        )
        for setting in SETTINGS
    ]


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


def show_from_environment() -> list[Shown]:
    """`show` for this process's environment."""
    import os

    return show(os.environ)


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
