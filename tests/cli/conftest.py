"""Running `kuledger` in-process with CliRunner against a fresh SQLite file.

`kuledger init` runs once per session into a template file; each test gets a
copy, named by KULEDGER_DATABASE_URL as in real use.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kuledger.cli.main import cli
from tests.conftest import TEST_SECRET_KEY

Run = Callable[..., Result]


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def make_template(
    path: Path, commands: Sequence[Sequence[str]], source: Path | None = None
) -> Path:
    """A database file at `path` after running `commands` on a copy of `source`
    (or on nothing: then the first command is usually `init`)."""
    if source is not None:
        shutil.copyfile(source, path)
    runner = CliRunner(
        env={
            "KULEDGER_DATABASE_URL": f"sqlite:///{path}",
            "KULEDGER_SECRET_KEY": TEST_SECRET_KEY,
        }
    )
    for command in commands:
        result = runner.invoke(cli, list(command), catch_exceptions=False)
        assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # fold the WAL into the file
    return path


@pytest.fixture(scope="session")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("cli") / "init.db", [["init"]])


def use_copy(template: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = folder / "ledger.db"
    shutil.copyfile(template, path)
    monkeypatch.setenv("KULEDGER_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("KULEDGER_SECRET_KEY", TEST_SECRET_KEY)
    return path


@pytest.fixture
def db_path(initialised: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database made by `kuledger init`."""
    return use_copy(initialised, tmp_path, monkeypatch)


@pytest.fixture
def run(db_path: Path) -> Run:
    """Run a kuledger command line (without the program name)."""
    return invoke


def dump(path: Path) -> list[str]:
    """Every row and schema object of the database, as SQL."""
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


def execute(path: Path, sql: str, *params: object) -> int:
    """Change the database behind kuledger's back; return the rows changed."""
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(sql, params).rowcount
