"""A database URL that cannot work: one line on stderr from every command.

Every command of the CLI (walked from click's command tree, so a new command
must join ARGS below) is run against each bad URL; none may print a traceback.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner

from kuledger.cli.main import cli
from tests.conftest import POSTGRES_URL, TEST_SECRET_KEY, _postgres_or_skip

# What each command needs to get as far as the database.
ARGS: dict[str, list[str]] = {
    "accounts": ["--uid", "u1"],
    "balance": ["--at", "2026-01-31"],
    "deposit": ["--uid", "u1", "--currency", "USDT", "--amount", "1"],
    "import": ["--uid", "u1", "{file}"],
    "init": [],
    "keys create": ["--uid", "u1"],
    "keys list": ["--uid", "u1"],
    "keys revoke": ["k1"],
    "ledger": ["--uid", "u1"],
    "operator-token create": ["--name", "n", "--scope", "read"],
    "operator-token list": [],
    "operator-token revoke": ["n"],
    "post": [],
    "retention": [],
    "seed": ["--users", "1", "--entries", "1", "--quiet"],
    "serve": ["--port", "0"],
    "statement": ["--uid", "u1", "--month", "2026-01"],
    "trade": [
        *("--uid", "u1", "--symbol", "BTC-USDT", "--side", "buy", "--price", "1"),
        *("--size", "1", "--order-id", "o1", "--trade-id", "t1"),
    ],
    "transfer": [
        *("--uid", "u1", "--currency", "USDT", "--amount", "1"),
        *("--from", "main", "--to", "trade"),
    ],
    "users create": ["--uid", "u1"],
    "users set-hf": ["u1"],
    "users set-vip": ["u1", "1"],
    "verify": [],
    "withdraw": ["--uid", "u1", "--currency", "USDT", "--amount", "1"],
}
# These never open the database.
NO_DATABASE = {"config", "export"}


def _leaf_commands() -> Iterator[str]:
    def walk(group: click.Group, prefix: str) -> Iterator[str]:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}"

    assert isinstance(cli, click.Group)
    return walk(cli, "")


def test_every_command_of_the_cli_is_covered():
    assert set(_leaf_commands()) == set(ARGS) | NO_DATABASE


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # free once closed: nothing listens


def _run(url: str, command: str, tmp_path: Path, *, key: bool = True):
    history = tmp_path / "history.jsonl"
    history.write_text("")
    args = [a.replace("{file}", str(history)) for a in ARGS[command]]
    env = {"KULEDGER_DATABASE_URL": url}
    if key:
        env["KULEDGER_SECRET_KEY"] = TEST_SECRET_KEY
    return CliRunner(env=env).invoke(
        cli, [*command.split(), *args], input="", catch_exceptions=False
    )


def _assert_one_line(result, *expected: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


BAD_URLS = {
    "scheme typo": ("postgresq://u:pw@127.0.0.1/db", ["'postgresq'", "sqlite:///"]),
    "unknown engine": ("mysql://u@127.0.0.1/db", ["'mysql'"]),
    "not a URL": ("ledger.db", ["KULEDGER_DATABASE_URL", "sqlite:///"]),
    "no such directory": (
        "sqlite:////nonexistent/kuledger/ledger.db",
        ["/nonexistent/kuledger/ledger.db", "directory"],
    ),
}


@pytest.mark.parametrize("command", sorted(ARGS))
@pytest.mark.parametrize("case", sorted(BAD_URLS))
def test_a_bad_database_url_is_one_line_on_every_command(case, command, tmp_path):
    url, expected = BAD_URLS[case]
    stderr = _assert_one_line(_run(url, command, tmp_path), *expected)
    assert "pw" not in stderr, "a URL's password is never printed"


@pytest.mark.parametrize("command", sorted(ARGS))
def test_an_unreachable_server_is_one_line_naming_it(command, tmp_path):
    port = _closed_port()
    url = f"postgresql://postgres:pw@127.0.0.1:{port}/ledger"
    stderr = _assert_one_line(
        _run(url, command, tmp_path), f"127.0.0.1:{port}", "refused"
    )
    assert "pw" not in stderr


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["init", "accounts", "serve", "keys create"])
def test_a_missing_postgres_database_says_to_create_it(command, tmp_path):
    _postgres_or_skip()
    name = f"kuledger_missing_{uuid.uuid4().hex[:8]}"
    url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    _assert_one_line(
        _run(url, command, tmp_path), f'database "{name}" does not exist', "createdb"
    )


def test_a_command_without_a_secret_key_still_reports_the_bad_url(tmp_path):
    _assert_one_line(
        _run("postgresq://u@h/db", "accounts", tmp_path, key=False), "'postgresq'"
    )


@pytest.mark.parametrize("option", ["--port", "--futures-port"])
def test_serve_names_a_port_in_use(run, option):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--port", str(port)] if option == "--port" else ["--port", "0"]
        if option == "--futures-port":
            args += ["--futures-port", str(port)]
        result = run("serve", *args)
    _assert_one_line(result, f"127.0.0.1:{port}", "in use", option)


@pytest.mark.postgres
def test_a_postgres_database_without_the_schema_says_to_run_init(tmp_path):
    _postgres_or_skip()
    name = f"kuledger_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
        _assert_one_line(
            _run(url, "accounts", tmp_path), 'relation "users" does not exist', "init"
        )
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
