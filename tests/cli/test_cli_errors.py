"""Bad input to every command: one clear line on stderr, exit 1, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Run, dump, invoke, make_template, use_copy

DEPOSIT = ["deposit", "--uid", "u1", "--currency", "USDT", "--amount", "5"]
TRADE = [
    "trade",
    "--uid",
    "u1",
    "--symbol",
    "BTC-USDT",
    "--side",
    "buy",
    "--price",
    "60000",
    "--size",
    "0.001",
    "--order-id",
    "o1",
    "--trade-id",
    "t1",
]


@pytest.fixture(scope="module")
def populated_template(initialised: Path, tmp_path_factory) -> Path:
    """u1 (with a sub-account s1) holding 10 USDT in main; a key for u1."""
    return make_template(
        tmp_path_factory.mktemp("cli-errors") / "populated.db",
        [
            ["users", "create", "--uid", "u1"],
            ["users", "create", "--uid", "s1", "--parent", "u1"],
            ["keys", "create", "--uid", "u1"],
            [*DEPOSIT[:-1], "10", "--id", "d0"],
        ],
        source=initialised,
    )


@pytest.fixture
def populated(populated_template: Path, tmp_path: Path, monkeypatch) -> Path:
    return use_copy(populated_template, tmp_path, monkeypatch)


@pytest.fixture
def run(populated: Path) -> Run:
    return invoke


def _replace(args: list[str], option: str, value: str) -> list[str]:
    """args with the value of `option` changed (or the option added)."""
    if option not in args:
        return [*args, option, value]
    changed = list(args)
    changed[changed.index(option) + 1] = value
    return changed


def _assert_rejected(run: Run, db_path: Path, args: list[str], *expected: str) -> str:
    before = dump(db_path)
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for text in expected:
        assert text in result.stderr
    assert dump(db_path) == before, "a rejected command wrote to the database"
    return result.stderr


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--uid", "ghost", "unknown user 'ghost'"),
        ("--currency", "XXX", "unknown currency 'XXX'"),
        ("--currency", "usdt", "unknown currency 'usdt'"),
        ("--amount", "1e5", "'1e5'"),
        ("--amount", "-1", "'-1'"),
        ("--amount", "NaN", "'NaN'"),
        ("--amount", "Infinity", "'Infinity'"),
        ("--amount", "0", "greater than zero"),
        ("--amount", "1.123456789", "more than 8 decimals"),
        ("--amount", "1" * 31, "plain positive decimal"),
        ("--account", "savings", "savings"),
    ],
)
def test_deposit_rejects_bad_input(run, populated, option, value, expected):
    _assert_rejected(run, populated, _replace(DEPOSIT, option, value), expected)


def test_deposit_rejects_a_context_that_is_not_json(run, populated):
    _assert_rejected(run, populated, [*DEPOSIT, "--context", "{oops"], "--context")


def test_deposit_rejects_a_backdated_time(run, populated):
    in_trade = [*DEPOSIT, "--account", "trade"]
    assert run(*in_trade, "--at", "1790000000000").exit_code == 0
    _assert_rejected(run, populated, [*in_trade, "--at", "1789999999999"], "before")


def test_deposit_rejects_a_reused_id_with_another_amount(run, populated):
    _assert_rejected(
        run, populated, [*DEPOSIT[:-1], "11", "--id", "d0"], "already used"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--amount", "10.00000001"], "insufficient balance"),
        (["--amount", "5", "--fee", "6"], "fee"),
        (["--amount", "5", "--fee", "-1"], "'-1'"),
        (["--amount", "1e1"], "'1e1'"),
    ],
)
def test_withdraw_rejects_bad_input(run, populated, args, expected):
    base = ["withdraw", "--uid", "u1", "--currency", "USDT"]
    _assert_rejected(run, populated, [*base, *args], expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--from", "main", "--to", "main"], "different"),
        (["--from", "main", "--to", "vault"], "vault"),
        (["--from", "trade", "--to", "main"], "insufficient balance"),
        (["--from", "main", "--to", "trade", "--uid", "nobody"], "'nobody'"),
    ],
)
def test_transfer_rejects_bad_input(run, populated, args, expected):
    base = ["transfer", "--uid", "u1", "--currency", "USDT", "--amount", "1"]
    _assert_rejected(run, populated, [*base, *args], expected)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--symbol", "BTCUSDT", "BASE-QUOTE"),
        ("--symbol", "XXX-USDT", "'XXX'"),
        ("--price", "6e4", "'6e4'"),
        ("--size", "0.000000001", "more than 8 decimals"),
        ("--size", "NaN", "'NaN'"),
        ("--uid", "ghost", "'ghost'"),
        ("--account", "main", "cannot trade"),
    ],
)
def test_trade_rejects_bad_input(run, populated, option, value, expected):
    _assert_rejected(run, populated, _replace(TRADE, option, value), expected)


def test_trade_without_the_funds_is_rejected(run, populated):
    _assert_rejected(run, populated, TRADE, "insufficient balance")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--uid", "u1"], "already exists"),
        (["--uid", "u2", "--parent", "ghost"], "'ghost'"),
        (["--uid", "u2", "--parent", "s1"], "cannot have sub-accounts"),
        (["--uid", "has space"], "uid"),
        (["--uid", "x" * 65], "uid"),
    ],
)
def test_users_create_rejects_bad_input(run, populated, args, expected):
    _assert_rejected(run, populated, ["users", "create", *args], expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["users", "set-vip", "ghost", "3"], "'ghost'"),
        (["users", "set-hf", "ghost"], "'ghost'"),
        (["keys", "create", "--uid", "ghost"], "'ghost'"),
        (["keys", "create", "--uid", "u1", "--permissions", "Admin"], "'Admin'"),
        (["keys", "create", "--uid", "u1", "--permissions", ","], "permission"),
        (["keys", "create", "--uid", "u1", "--ip", "10.0.0.300"], "10.0.0.300"),
        (["keys", "list", "--uid", "ghost"], "'ghost'"),
        (["keys", "revoke", "nosuchkey"], "nosuchkey"),
        (["accounts", "--uid", "ghost"], "'ghost'"),
        (["accounts", "--uid", "ghost", "--json"], "'ghost'"),
        (["ledger", "--uid", "ghost"], "'ghost'"),
        (["ledger", "--uid", "ghost", "--json"], "'ghost'"),
    ],
)
def test_other_commands_reject_unknown_names(run, populated, args, expected):
    _assert_rejected(run, populated, args, expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"op":"refund","uid":"u1","id":"x"}', "unknown op 'refund'"),
        ('{"uid":"u1","id":"x"}', "unknown op None"),
        ("{not json", "malformed JSON"),
        ('["deposit"]', "JSON object"),
        ("42", "JSON object"),
        (
            '{"op":"deposit","uid":"u1","id":"x","currency":"USDT","amount":"1e5"}',
            "'1e5'",
        ),
        (
            '{"op":"deposit","uid":"u1","id":"x","currency":"USDT","amount":-1}',
            "-1",
        ),
        (
            '{"op":"deposit","uid":"u1","id":"x","currency":"USDT","amount":NaN}',
            "nan",
        ),
        (
            '{"op":"deposit","uid":"u1","id":"x","currency":"USDT","amount":1.5}',
            "1.5",
        ),
        (
            '{"op":"deposit","uid":"u1","id":"x","currency":"USDT",'
            '"amount":"0.123456789"}',
            "more than 8 decimals",
        ),
        (
            '{"op":"deposit","uid":"ghost","id":"x","currency":"USDT","amount":"1"}',
            "'ghost'",
        ),
        (
            '{"op":"deposit","uid":"u1","id":"x","currency":"XXX","amount":"1"}',
            "'XXX'",
        ),
        (
            '{"op":"deposit","uid":"u1","id":"x","currency":"USDT","amount":"1",'
            '"memo":"hi"}',
            "memo",
        ),
        (
            '{"op":"sub_transfer","uid":"s1","id":"x","currency":"USDT",'
            '"amount":"1","sub_uid":"u1","direction":"to_parent"}',
            "not a sub-account",
        ),
    ],
)
@pytest.mark.parametrize("atomic", [False, True])
def test_post_reports_a_bad_line_and_writes_nothing(
    run, populated, line, expected, atomic
):
    before = dump(populated)
    result = run("post", *(["--atomic"] if atomic else []), input=line + "\n")
    assert result.exit_code == 1
    [reported] = [json.loads(text) for text in result.stdout.splitlines()]
    assert reported == {"line": 1, "ok": False, "error": reported["error"]}
    assert expected in reported["error"]
    assert "\n" not in reported["error"]
    if atomic:
        assert result.stderr.startswith("error: line 1: ")
        assert result.stderr.count("\n") == 1
    assert dump(populated) == before


def test_post_of_an_empty_file_does_nothing_and_succeeds(run, populated):
    before = dump(populated)
    assert run("post", input="").exit_code == 0
    assert run("post", "--atomic", input="\n\n").exit_code == 0
    assert dump(populated) == before


def test_a_command_on_a_database_never_initialised_says_to_run_init(
    run, tmp_path, monkeypatch
):
    monkeypatch.setenv("KULEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = run("accounts", "--uid", "u1")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "kuledger init" in result.stderr
