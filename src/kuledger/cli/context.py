"""What every command shares: the container, error reporting, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import sqlalchemy.exc

from kuledger.bootstrap import Container
from kuledger.config import ConfigError, settings_from_environment
from kuledger.domain.errors import LedgerError
from kuledger.storage.secretbox import SecretKeyError

F = TypeVar("F", bound=Callable[..., Any])


def container() -> Container:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Container(settings_from_environment())
        root.call_on_close(root.obj.close)
    assert isinstance(root.obj, Container)
    return root.obj


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def reports_errors(func: F) -> F:
    """Turn expected failures into one line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (LedgerError, ConfigError, SecretKeyError) as exc:
            fail(str(exc))
        except sqlalchemy.exc.OperationalError as exc:
            fail(
                f"database error: {exc.orig}. Check KULEDGER_DATABASE_URL and run "
                "`kuledger init` first."
            )
        except sqlalchemy.exc.IntegrityError as exc:
            fail(f"database refused the write: {exc.orig}")
        except sqlalchemy.exc.ProgrammingError as exc:
            fail(f"database error: {exc.orig}. Has `kuledger init` been run?")

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
