"""What every command shares: the container, error reporting, JSON output."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import sqlalchemy as sa
import sqlalchemy.exc

from kuledger.bootstrap import Container
from kuledger.config import ConfigError, hide_password, settings_from_environment
from kuledger.domain.errors import LedgerError
from kuledger.services.ports import StorageUnavailable
from kuledger.storage.engines import normalize_url
from kuledger.storage.secretbox import SecretKeyError

F = TypeVar("F", bound=Callable[..., Any])

URL_FORMS = "sqlite:///path.db or postgresql://user:password@host:port/dbname"
_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")  # as normalized


def container() -> Container:
    """The command's container; on first use, the database URL is checked and,
    where a secret key is configured, that it is the database's (one query)."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        settings = settings_from_environment()
        check_database_url(settings.database_url)
        root.obj = Container(settings)
        root.call_on_close(root.obj.close)
        root.obj.check_secret_key()
    assert isinstance(root.obj, Container)
    return root.obj


def check_database_url(url: str) -> None:
    """Raise ConfigError unless `url` names an engine kuledger runs on."""
    shown = hide_password(url)
    try:
        parsed = sa.make_url(normalize_url(url))
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(
            f"KULEDGER_DATABASE_URL: {shown!r} is not a database URL; use {URL_FORMS}"
        ) from None
    if parsed.drivername not in _DRIVERS:
        raise ConfigError(
            f"KULEDGER_DATABASE_URL: unsupported database {parsed.drivername!r} in "
            f"{shown!r}; use {URL_FORMS}"
        )


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def explain(exc: BaseException, database_url: str | None = None) -> str | None:
    """The one line that reports an expected failure; None for a bug."""
    import psycopg  # here, not at the top: only a failure pays for its import

    if isinstance(exc, StorageUnavailable) and exc.__cause__ is not None:
        return explain(exc.__cause__, database_url)
    if isinstance(exc, (LedgerError, ConfigError, SecretKeyError)):
        return _one_line(str(exc))
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        return f"database refused the write: {_one_line(str(exc.orig))}"
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
        return explain(exc.orig, database_url)
    if isinstance(exc, (psycopg.Error, sqlite3.Error)):
        return _database_problem(exc, database_url)
    return None


_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')
_MISSING_SCHEMA = ("no such table", "no such column")


def _database_problem(exc: BaseException, database_url: str | None) -> str:
    import psycopg

    text = _one_line(str(exc))
    url = sa.make_url(normalize_url(database_url)) if database_url else None
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        first = _one_line(str(exc).splitlines()[0])  # not the SQL that follows
        return f"database error: {first}. Run `kuledger init` to create the schema"
    if isinstance(exc, sqlite3.OperationalError) and text.startswith(_MISSING_SCHEMA):
        return f"database error: {text}. Run `kuledger init` to create the schema"
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
        where = url.database if url is not None else "the database file"
        return (
            f"cannot open the SQLite database {where}: does its directory exist, "
            "and may this user write there? (KULEDGER_DATABASE_URL)"
        )
    if isinstance(exc, psycopg.OperationalError) and url is not None:
        server = f"{url.host or 'localhost'}:{url.port or 5432}"
        missing = _MISSING_DATABASE.search(text)
        if missing:
            user = f" -U {url.username}" if url.username else ""
            return (
                f'database "{missing[1]}" does not exist on {server}: create it '
                f"(`createdb -h {url.host or 'localhost'} -p {url.port or 5432}"
                f"{user} {missing[1]}`), then run `kuledger init`"
            )
        if text.startswith(("connection failed", "failed to resolve")):
            first = str(exc).splitlines()[0]  # the rest is psycopg's advice
            reason = _one_line(first.rsplit(" failed: ", 1)[-1])
            return (
                f"cannot connect to PostgreSQL at {server}: {reason} "
                "(check KULEDGER_DATABASE_URL)"
            )
    return f"database error: {text}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report_failure(exc: Exception) -> None:
    """Exit 1 with `exc` as one line on stderr if it is an expected failure;
    re-raise a bug."""
    obj = click.get_current_context(silent=True)
    root = obj.find_root().obj if obj is not None else None
    url = root.settings.database_url if isinstance(root, Container) else None
    message = explain(exc, url)
    if message is None:
        raise exc
    fail(message)


def reports_errors(func: F) -> F:
    """Turn expected failures into one line on stderr and exit status 1.
    (The command group does the same for every command: cli.main.)"""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            report_failure(exc)

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
