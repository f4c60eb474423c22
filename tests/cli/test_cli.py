"""The CLI's output contracts: --json shapes, post results, verify, seed."""

from __future__ import annotations

import json
import re
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from kuledger.bootstrap import Container
from kuledger.cli import ops
from kuledger.cli.seeding import _create_users
from kuledger.config import settings_from_environment
from kuledger.services import ledger
from kuledger.services.seed import SeedPlan, batches
from tests.cli.conftest import Run, dump, execute, invoke

ACCOUNT_FIELDS = {"id", "type", "currency", "balance", "available", "holds"}
LEDGER_FIELDS = {
    "id",
    "currency",
    "amount",
    "fee",
    "balance",
    "accountType",
    "bizType",
    "direction",
    "createdAt",
    "context",
}


def _one_json_line(text: str) -> Any:
    """The value of `text`, which must be exactly one compact JSON line."""
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    value = json.loads(text)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"
    return value


def _json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


def _post(run: Run, *lines: dict[str, Any] | str, atomic: bool = False):
    text = "".join(
        (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
    )
    return run("post", *(["--atomic"] if atomic else []), input=text)


def _deposit(op_id: str, amount: str, uid: str = "u1", **extra: Any) -> dict[str, Any]:
    return {
        "op": "deposit",
        "uid": uid,
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
        **extra,
    }


@pytest.fixture
def user(run: Run) -> str:
    assert run("users", "create", "--uid", "u1").exit_code == 0
    return "u1"


def test_users_create_json_prints_one_compact_line_with_the_uid(run):
    result = run("users", "create", "--uid", "alice", "--json")
    assert result.exit_code == 0
    assert result.stderr == ""
    created = _one_json_line(result.stdout)
    assert created["uid"] == "alice"


def test_users_create_without_a_uid_makes_up_a_twelve_digit_one(run):
    created = _one_json_line(run("users", "create", "--json").stdout)
    assert re.fullmatch(r"[1-9]\d{11}", created["uid"])


def test_users_create_json_names_the_parent_of_a_sub_account(run, user):
    result = run("users", "create", "--uid", "sub1", "--parent", user, "--json")
    assert _one_json_line(result.stdout)["parent"] == user


def test_keys_create_json_prints_key_secret_and_passphrase_on_one_line(run, user):
    result = run("keys", "create", "--uid", user, "--json", "--passphrase", "pw-1")
    assert result.exit_code == 0
    issued = _one_json_line(result.stdout)
    assert {"key", "secret", "passphrase"} <= set(issued)
    assert all(isinstance(issued[k], str) and issued[k] for k in ("key", "secret"))
    assert issued["passphrase"] == "pw-1"
    listed = _one_json_line(run("keys", "list", "--uid", user, "--json").stdout)
    assert [k["key"] for k in listed] == [issued["key"]]
    assert issued["secret"] not in json.dumps(listed)


def test_accounts_json_prints_every_account_with_amounts_as_strings(run, user):
    _post(
        run,
        _deposit("d1", "100.5"),
        {
            "op": "transfer",
            "uid": user,
            "id": "t1",
            "currency": "USDT",
            "amount": "40",
            "from": "main",
            "to": "trade",
        },
        {
            "op": "hold",
            "uid": user,
            "id": "h1",
            "account": "trade",
            "currency": "USDT",
            "amount": "0.25",
        },
    )
    result = run("accounts", "--uid", user, "--json")
    assert result.exit_code == 0
    accounts = _one_json_line(result.stdout)
    assert all(set(a) == ACCOUNT_FIELDS for a in accounts)
    assert all(re.fullmatch(r"[0-9a-f]{24}", a["id"]) for a in accounts)
    assert [{k: v for k, v in a.items() if k != "id"} for a in accounts] == [
        {
            "type": "main",
            "currency": "USDT",
            "balance": "60.5",
            "available": "60.5",
            "holds": "0",
        },
        {
            "type": "trade",
            "currency": "USDT",
            "balance": "40",
            "available": "39.75",
            "holds": "0.25",
        },
    ]


def test_accounts_json_of_a_user_without_accounts_is_an_empty_array(run, user):
    assert run("accounts", "--uid", user, "--json").stdout == "[]\n"


def test_ledger_json_prints_kucoin_ledger_items_newest_first(run, user):
    _post(
        run,
        _deposit("d1", "100", at=1_790_000_000_000, context={"txId": "0xab"}),
        {
            "op": "withdrawal",
            "uid": user,
            "id": "w1",
            "currency": "USDT",
            "amount": "10.5",
            "fee": "0.5",
            "at": 1_790_000_000_001,
        },
    )
    result = run("ledger", "--uid", user, "--json")
    assert result.exit_code == 0
    items = _one_json_line(result.stdout)
    assert all(set(item) == LEDGER_FIELDS for item in items)
    withdrawal, deposit = items
    assert withdrawal == {
        "id": withdrawal["id"],
        "currency": "USDT",
        "amount": "10.5",
        "fee": "0.5",
        "balance": "89.5",
        "accountType": "MAIN",
        "bizType": "WITHDRAW",
        "direction": "out",
        "createdAt": 1_790_000_000_001,
        "context": "",
    }
    assert isinstance(deposit["createdAt"], int)
    assert json.loads(deposit["context"]) == {"txId": "0xab"}
    assert (deposit["bizType"], deposit["direction"]) == ("DEPOSIT", "in")
    assert isinstance(deposit["id"], str) and int(deposit["id"]) < int(withdrawal["id"])


def test_ledger_json_filters_by_currency_and_limit(run, user):
    _post(
        run,
        _deposit("d1", "1"),
        _deposit("d2", "2"),
        {**_deposit("d3", "3"), "currency": "BTC"},
    )
    btc = _one_json_line(
        run("ledger", "--uid", user, "--json", "--currency", "BTC").stdout
    )
    assert [i["amount"] for i in btc] == ["3"]
    latest = _one_json_line(
        run("ledger", "--uid", user, "--json", "--limit", "2").stdout
    )
    assert len(latest) == 2


def test_post_prints_one_result_per_line_and_exits_zero_when_all_apply(run, user):
    result = _post(
        run, _deposit("d1", "5"), "", _deposit("d2", "7"), _deposit("d1", "5")
    )
    assert result.exit_code == 0
    first, second, replay = _json_lines(result.stdout)
    assert (first["line"], second["line"], replay["line"]) == (1, 3, 4)
    assert first == {
        "line": 1,
        "ok": True,
        "op": "deposit",
        "uid": user,
        "id": "d1",
        "entries": first["entries"],
        "createdAt": first["createdAt"],
        "replayed": False,
    }
    assert replay["replayed"] is True
    assert replay["entries"] == first["entries"]
    assert all(isinstance(e, str) for e in first["entries"] + second["entries"])


def test_post_exits_one_when_a_line_fails_and_applies_the_others(run, user):
    result = _post(
        run,
        _deposit("d1", "5"),
        {
            "op": "withdrawal",
            "uid": user,
            "id": "w1",
            "currency": "USDT",
            "amount": "9",
        },
        _deposit("d2", "1"),
    )
    assert result.exit_code == 1
    ok, failed, ok_again = _json_lines(result.stdout)
    assert (ok["ok"], ok_again["ok"]) == (True, True)
    assert failed == {"line": 2, "ok": False, "error": failed["error"]}
    assert "insufficient balance" in failed["error"]
    balances = _one_json_line(run("accounts", "--uid", user, "--json").stdout)
    assert [a["balance"] for a in balances] == ["6"]


def test_post_lines_after_a_refused_one_do_not_see_it(run, user, monkeypatch):
    # 2 lines a transaction: the refused withdrawal shares one with a line
    # that succeeds, and the later lines see the balance as if it never ran.
    monkeypatch.setattr(ops, "POST_CHUNK", 2)
    withdraw = {"op": "withdrawal", "uid": user, "currency": "USDT"}
    result = _post(
        run,
        _deposit("d1", "5"),
        {**withdraw, "id": "w1", "amount": "9"},  # refused: only 5 there
        "{not json",
        {**withdraw, "id": "w2", "amount": "5"},  # fits only if w1 wrote nothing
        {**withdraw, "id": "w3", "amount": "0.1"},  # refused: 0 left
        _deposit("d1", "5"),  # a replay in another transaction
    )
    assert result.exit_code == 1
    lines = _json_lines(result.stdout)
    assert [(r["line"], r["ok"]) for r in lines] == [
        (1, True),
        (2, False),
        (3, False),
        (4, True),
        (5, False),
        (6, True),
    ]
    assert "insufficient balance" in lines[1]["error"]
    assert "malformed JSON" in lines[2]["error"]
    assert lines[5]["replayed"] is True and lines[5]["entries"] == lines[0]["entries"]
    balances = _one_json_line(run("accounts", "--uid", user, "--json").stdout)
    assert [a["balance"] for a in balances] == ["0"]


def test_post_atomic_applies_every_line_in_one_transaction(run, user):
    result = _post(run, _deposit("d1", "5"), _deposit("d2", "6"), atomic=True)
    assert result.exit_code == 0
    assert [line["ok"] for line in _json_lines(result.stdout)] == [True, True]
    balances = _one_json_line(run("accounts", "--uid", user, "--json").stdout)
    assert [a["balance"] for a in balances] == ["11"]


def test_post_atomic_applies_nothing_and_names_the_failing_line(run, user, db_path):
    before = dump(db_path)
    result = _post(
        run,
        _deposit("d1", "5"),
        "",
        _deposit("d2", "6"),
        {
            "op": "withdrawal",
            "uid": user,
            "id": "w1",
            "currency": "USDT",
            "amount": "12",
        },
        atomic=True,
    )
    assert result.exit_code == 1
    assert _one_json_line(result.stdout)["line"] == 4
    assert result.stderr.startswith("error: line 4: insufficient balance")
    assert "nothing was applied" in result.stderr
    assert dump(db_path) == before


def test_post_atomic_names_the_line_even_when_the_file_has_only_one(run, user, db_path):
    before = dump(db_path)
    result = _post(
        run,
        {
            "op": "withdrawal",
            "uid": user,
            "id": "w1",
            "currency": "USDT",
            "amount": "1",
        },
        atomic=True,
    )
    assert result.exit_code == 1
    assert _one_json_line(result.stdout) == {
        "line": 1,
        "ok": False,
        "error": "insufficient balance: u1 main USDT has 0 available, needs 1",
    }
    assert result.stderr.startswith("error: line 1: insufficient balance")
    assert dump(db_path) == before


def test_post_atomic_with_a_malformed_line_applies_nothing(run, user, db_path):
    before = dump(db_path)
    result = _post(run, _deposit("d1", "5"), "{not json", atomic=True)
    assert result.exit_code == 1
    assert _one_json_line(result.stdout)["line"] == 2
    assert result.stderr.startswith("error: line 2: malformed JSON")
    assert dump(db_path) == before


@pytest.fixture
def history(run: Run, user: str) -> str:
    result = _post(
        run,
        _deposit("d1", "100"),
        _deposit("d2", "50"),
        {
            "op": "transfer",
            "uid": user,
            "id": "t1",
            "currency": "USDT",
            "amount": "30",
            "from": "main",
            "to": "trade",
        },
    )
    assert result.exit_code == 0
    return user


def test_verify_is_clean_on_an_untouched_ledger(run, history):
    result = run("verify")
    assert result.exit_code == 0
    root, verdict = result.stdout.splitlines()
    assert verdict == "OK: 2 accounts, 4 entries checked"
    report = _one_json_line(run("verify", "--json").stdout)
    assert root == f"checkpoint root: {report['root']}"
    assert report == {
        "ok": True,
        "accounts": 2,
        "entries": 4,
        "operations": 3,
        "problems": [],
        "problem_count": 0,
        "findings": [],
        "kinds": {},
        "chained": 4,
        "broken_chains": 0,
        "since": False,
        "resumed": 0,
        "checkpoints_saved": 2,
        "root": report["root"],
    }


def _tampered(run: Run) -> list[str]:
    result = run("verify")
    assert result.exit_code == 1
    *problems, verdict = result.stdout.splitlines()
    assert verdict.startswith("FAILED:")
    assert problems and all(p.startswith("MISMATCH ") for p in problems)
    report = _one_json_line(run("verify", "--json").stdout)
    assert report["ok"] is False
    assert report["problem_count"] == len(problems)
    return problems


def test_verify_detects_a_balance_changed_in_the_database(run, history, db_path):
    changed = execute(
        db_path,
        "UPDATE accounts SET balance = '121', available = '121' WHERE type = 'main'",
    )
    assert changed == 1
    [problem] = _tampered(run)
    assert "stored balance 121, entries sum to 120" in problem


def test_verify_detects_available_no_longer_adding_up(run, history, db_path):
    execute(db_path, "UPDATE accounts SET available = '1' WHERE type = 'trade'")
    [problem] = _tampered(run)
    assert "!= available 1" in problem


def test_verify_detects_an_entry_amount_changed_in_the_database(run, history, db_path):
    execute(db_path, "UPDATE entries SET amount = '51' WHERE amount = '50'")
    problems = _tampered(run)
    assert any("running sum" in p for p in problems)


def test_verify_detects_an_entry_direction_changed_in_the_database(
    run, history, db_path
):
    execute(db_path, "UPDATE entries SET direction = 'in' WHERE direction = 'out'")
    assert _tampered(run)


@pytest.mark.parametrize("which", ["MIN(id)", "MAX(id)"])
def test_verify_detects_an_entry_deleted_from_the_database(
    run, history, db_path, which
):
    deleted = execute(
        db_path, f"DELETE FROM entries WHERE id = (SELECT {which} FROM entries)"
    )
    assert deleted == 1
    assert _tampered(run)


def test_verify_detects_an_entry_moved_to_another_account(run, history, db_path):
    execute(
        db_path,
        "UPDATE entries SET account_id = 'ffffffffffffffffffffffff' "
        "WHERE id = (SELECT MAX(id) FROM entries)",
    )
    problems = _tampered(run)
    assert any("does not exist" in p for p in problems)


SEED_ARGS = [
    "seed",
    "--users",
    "5",
    "--entries",
    "2000",
    "--days",
    "3",
    "--seed",
    "3",
    "--quiet",
    "--end",
    "1790000000000",
]


def _seeded(
    path: Path | str, monkeypatch: pytest.MonkeyPatch, *options: str
) -> dict[str, Any]:
    """Seed a new database at `path` (a SQLite file, or a URL); return its
    ledgers and balances."""
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    monkeypatch.setenv("KULEDGER_DATABASE_URL", url)
    assert invoke("init").exit_code == 0
    result = invoke(*SEED_ARGS, *options)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("seeded ")
    assert invoke("verify").exit_code == 0
    uids = [f"seed-3-{i:06d}" for i in range(5)]
    ledgers = {uid: invoke("ledger", "--uid", uid, "--json").stdout for uid in uids}
    accounts = {
        uid: [
            {k: v for k, v in a.items() if k != "id"}  # ids are random
            for a in json.loads(invoke("accounts", "--uid", uid, "--json").stdout)
        ]
        for uid in uids
    }
    return {"message": result.stdout, "ledgers": ledgers, "accounts": accounts}


def test_seed_twice_with_the_same_arguments_writes_identical_ledgers(
    tmp_path, monkeypatch, db_path
):
    first = _seeded(tmp_path / "first.db", monkeypatch)
    second = _seeded(tmp_path / "second.db", monkeypatch)
    assert first == second
    entries = sum(len(json.loads(text)) for text in first["ledgers"].values())
    assert entries >= 2000
    assert first["message"] == f"seeded {entries} entries for 5 users over 3 days\n"
    times = [i["createdAt"] for t in first["ledgers"].values() for i in json.loads(t)]
    assert max(times) <= 1_790_000_000_000
    assert min(times) >= 1_790_000_000_000 - 3 * 86_400_000


@pytest.mark.postgres
def test_a_copy_seed_writes_what_the_batch_path_writes(postgres_databases, monkeypatch):
    urls = [postgres_databases.new(), postgres_databases.new()]
    by_batches = _seeded(urls[0], monkeypatch)
    copied = _seeded(urls[1], monkeypatch, "--copy")  # (verify passes on it too)
    assert copied == by_batches
    # A finished COPY seed, resumed, finds every operation applied.
    again = invoke(*SEED_ARGS, "--copy", "--resume")
    assert again.exit_code == 0, again.output
    assert _seeded_entries(urls[1]) == _seeded_entries(urls[0])
    for url in urls:
        postgres_databases.release(url)


def _seeded_entries(url: str) -> list[tuple[Any, ...]]:
    """Every entry but its account id (random) and hash (which binds it)."""
    c = Container(settings_from_environment(database_url=url))
    with c.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, uid, account_type, currency, amount, fee, balance, "
            "direction, biz_code, created_at, context, seq, book, op_uid, op_id "
            "FROM entries ORDER BY id"
        )
        found = [tuple(r) for r in rows]
    c.close()
    return found


def test_a_copy_seed_needs_postgresql(tmp_path, monkeypatch):
    monkeypatch.setenv("KULEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert invoke("init").exit_code == 0
    refused = invoke(*SEED_ARGS, "--copy")
    assert refused.exit_code != 0
    assert "--copy needs a PostgreSQL database" in refused.output


def _interrupted_seed(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a seed killed after its first batches leaves: those batches only."""
    monkeypatch.setenv("KULEDGER_DATABASE_URL", f"sqlite:///{path}")
    assert invoke("init").exit_code == 0
    c = Container(settings_from_environment())
    plan = SeedPlan(5, 2000, 3, 3, 1_790_000_000_000)
    _create_users(c, plan)
    for batch, _ in islice(batches(plan, 200), 2):
        ledger.apply_batch(c.uow, batch, c.clock)
    c.close()


def test_an_interrupted_seed_resumes_to_the_same_ledgers(
    tmp_path, monkeypatch, db_path
):
    _interrupted_seed(tmp_path / "resumed.db", monkeypatch)
    refused = invoke(*SEED_ARGS)
    assert refused.exit_code != 0
    assert "add --resume" in refused.output
    resumed = invoke(*SEED_ARGS, "--resume")
    assert resumed.exit_code == 0, resumed.output
    # ... and resuming a finished seed writes nothing more.
    assert invoke(*SEED_ARGS, "--resume").exit_code == 0
    whole = _seeded(tmp_path / "whole.db", monkeypatch)
    monkeypatch.setenv("KULEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'resumed.db'}")
    assert invoke("verify").exit_code == 0
    for uid, text in whole["ledgers"].items():
        assert invoke("ledger", "--uid", uid, "--json").stdout == text
    assert resumed.stdout == whole["message"]
