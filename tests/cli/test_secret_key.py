"""One secret key per database: the fingerprint that init records and every
command checks, so secrets are never sealed with a second key."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kuledger.bootstrap import Container
from kuledger.cli.main import cli
from kuledger.config import Settings
from kuledger.services import keys as key_service
from kuledger.storage.secretbox import FernetBox


def kuledger(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def ok(env: dict[str, str], *args: str) -> str:
    result = kuledger(env, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(env: dict[str, str], *args: str) -> str:
    result = kuledger(env, *args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def first_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "first"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.postgres
def test_init_from_another_directory_does_not_split_the_key(
    postgres_url, first_dir, tmp_path, monkeypatch
):
    """The operator's path on PostgreSQL: ./kuledger.key in the working directory."""
    env = {"KULEDGER_DATABASE_URL": postgres_url}
    assert "secret key fingerprint recorded" in ok(env, "init")
    assert (first_dir / "kuledger.key").exists()
    ok(env, "users", "create", "--uid", "alice")
    ok(env, "keys", "create", "--uid", "alice")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    hint = refused(env, "keys", "create", "--uid", "alice")
    assert str(elsewhere / "kuledger.key") in hint
    assert "KULEDGER_SECRET_KEY_FILE" in hint
    assert "working directory" in hint
    error = refused(env, "init")
    assert "1 API key secret(s)" in error and "none is created" in error
    assert str(elsewhere / "kuledger.key") in error
    assert not (elsewhere / "kuledger.key").exists(), "init made a second key"

    original = {**env, "KULEDGER_SECRET_KEY_FILE": str(first_dir / "kuledger.key")}
    ok(original, "keys", "create", "--uid", "alice")
    assert "recorded" not in ok(original, "init")


def test_init_refuses_a_new_key_for_a_database_bound_to_another(tmp_path, first_dir):
    db = tmp_path / "ledger.db"
    env = {"KULEDGER_DATABASE_URL": f"sqlite:///{db}"}
    ok(env, "init")  # no API key yet: the fingerprint alone binds the database
    moved = {**env, "KULEDGER_SECRET_KEY_FILE": str(tmp_path / "new.key")}
    error = refused(moved, "init")
    assert "is bound to key" in error and str(tmp_path / "new.key") in error
    assert not (tmp_path / "new.key").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["accounts", "--uid", "alice"],
        ["keys", "create", "--uid", "alice"],
        ["deposit", "--uid", "alice", "--currency", "USDT", "--amount", "1"],
        ["init"],
        ["serve", "--port", "0"],
    ],
)
def test_every_command_refuses_another_key(tmp_path, first_dir, command):
    db = tmp_path / "ledger.db"
    env = {"KULEDGER_DATABASE_URL": f"sqlite:///{db}"}
    ok(env, "init")
    ok(env, "users", "create", "--uid", "alice")
    with closing(sqlite3.connect(db)) as conn:
        before = conn.execute("SELECT count(*) FROM entries").fetchone()
    other = {**env, "KULEDGER_SECRET_KEY": "another key altogether"}
    error = refused(other, *command)
    assert "KULEDGER_SECRET_KEY" in error and "is not the one" in error
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone() == before


def _legacy_split_database(tmp_path: Path) -> tuple[dict[str, str], str]:
    """A database from before the fingerprint, whose keys were sealed with two
    keys: what the split left behind. Returns its env (the first key) and the
    key sealed with the second."""
    db = tmp_path / "ledger.db"
    env = {"KULEDGER_DATABASE_URL": f"sqlite:///{db}", "KULEDGER_SECRET_KEY": "first"}
    ok(env, "init")
    ok(env, "users", "create", "--uid", "alice")
    ok(env, "keys", "create", "--uid", "alice")
    c = Container(Settings.from_env(env))
    try:
        stray = key_service.create_key(
            c.uow, FernetBox("second"), c.clock, uid="alice"
        ).key
    finally:
        c.close()
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM key_fingerprint")
    return env, stray


def test_serve_refuses_to_start_when_a_secret_cannot_be_opened(tmp_path):
    env, stray = _legacy_split_database(tmp_path)
    error = refused(env, "serve", "--port", "0")
    assert f"1 of 2 active API keys ({stray})" in error
    assert "kuledger keys revoke" in error
    ok(env, "keys", "revoke", stray)  # the way out needs no key
    assert "secret key fingerprint recorded" in ok(env, "init")
