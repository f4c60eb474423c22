"""`kuledger verify` and the hash chain, through the command line (SQLite file)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Run, execute


def _post(run: Run, *ops: dict[str, Any]) -> None:
    result = run("post", input="".join(json.dumps(op) + "\n" for op in ops))
    assert result.exit_code == 0, result.output


def _deposit(op_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {"op": "deposit", "uid": "u1", "id": op_id, "currency": "USDT"} | {
        "amount": amount,
        **extra,
    }


@pytest.fixture
def five(run: Run) -> dict[int, int]:
    """u1 with five deposits on main USDT; returns seq -> entry id."""
    assert run("users", "create", "--uid", "u1").exit_code == 0
    _post(run, *(_deposit(f"d{n}", str(n), context=f"n{n}") for n in range(1, 6)))
    return _ids(run)


def _ids(run: Run) -> dict[int, int]:
    path = _path()
    with closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT seq, id FROM entries WHERE uid = 'u1'"))


def _path() -> Path:
    return Path(os.environ["KULEDGER_DATABASE_URL"].removeprefix("sqlite:///"))


def _json(run: Run, *args: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(run("verify", "--json", *args).stdout)
    return value


def _failed(run: Run, *args: str) -> list[str]:
    result = run("verify", *args)
    assert result.exit_code == 1
    *lines, verdict = result.stdout.splitlines()
    assert verdict.startswith("FAILED:")
    return [line for line in lines if "chain" in line]


def test_a_clean_ledger_verifies_with_every_entry_hashed(run, five):
    result = run("verify")
    assert result.exit_code == 0
    root, verdict = result.stdout.splitlines()
    assert verdict == "OK: 1 accounts, 5 entries checked"
    assert re.fullmatch("checkpoint root: [0-9a-f]{64}", root)
    report = _json(run)
    assert report["chained"] == 5
    assert report["broken_chains"] == 0
    assert report["checkpoints_saved"] == 1
    assert (report["findings"], report["kinds"], report["operations"]) == ([], {}, 5)
    assert root == f"checkpoint root: {report['root']}"


@pytest.mark.parametrize(
    ("sql", "seq", "reported_seq"),
    [
        ("UPDATE entries SET amount = '3.5' WHERE id = ?", 3, 3),
        ("UPDATE entries SET context = 'forged' WHERE id = ?", 3, 3),
        ("UPDATE entries SET created_at = created_at - 1 WHERE id = ?", 3, 3),
        ("DELETE FROM entries WHERE id = ?", 3, 4),
    ],
    ids=["amount", "context", "created_at", "delete"],
)
def test_a_tamper_is_reported_at_the_first_bad_entry(run, five, sql, seq, reported_seq):
    assert execute(_path(), sql, five[seq]) == 1
    [problem] = _failed(run)
    assert problem.startswith("MISMATCH ")
    assert f"chain broken at entry {five[reported_seq]} (seq {reported_seq})" in problem
    assert _json(run)["broken_chains"] == 1


def test_swapped_seqs_are_reported(run, five):
    path = _path()
    execute(path, "UPDATE entries SET seq = -1 WHERE id = ?", five[4])
    execute(path, "UPDATE entries SET seq = 4 WHERE id = ?", five[5])
    execute(path, "UPDATE entries SET seq = 5 WHERE id = ?", five[4])
    [problem] = _failed(run)
    assert f"chain broken at entry {five[5]} (seq 4)" in problem


def test_a_forged_chain_head_is_reported(run, five):
    execute(_path(), "UPDATE accounts SET chain_head = ?", "a" * 64)
    [problem] = _failed(run)
    assert "stored chain head aaaaaaaaaaaaaaaa" in problem


def test_since_reads_only_entries_after_the_checkpoint(run, five):
    assert run("verify").exit_code == 0  # stores the checkpoints
    _post(run, _deposit("d6", "1"), _deposit("d7", "1"))
    result = run("verify", "--since")
    assert result.exit_code == 0
    since_line, _, verdict = result.stdout.splitlines()
    assert since_line == (
        "since checkpoints: 1 of 1 accounts resumed, 2 newer entries read"
    )
    assert verdict == "OK: 1 accounts, 2 entries checked"
    report = _json(run, "--since")  # the checkpoint moved to seq 7
    assert (report["entries"], report["resumed"], report["since"]) == (0, 1, True)
    _post(run, _deposit("d8", "1"))
    ids = _ids(run)
    execute(_path(), "UPDATE entries SET context = 'x' WHERE id = ?", ids[8])
    [problem] = _failed(run, "--since")
    assert f"chain broken at entry {ids[8]} (seq 8)" in problem
    assert _json(run, "--since")["entries"] == 1


def test_a_failed_verify_stores_no_checkpoint(run, five):
    execute(_path(), "UPDATE entries SET context = 'x' WHERE id = ?", five[5])
    assert _json(run)["checkpoints_saved"] == 0
    with closing(sqlite3.connect(_path())) as conn:
        [(count,)] = conn.execute("SELECT count(*) FROM verify_checkpoints")
    assert count == 0
    assert _json(run, "--since")["entries"] == 5  # no checkpoint: full replay


def test_seed_writes_a_chained_history(run):
    result = run("seed", "--users", "3", "--entries", "300", "--quiet")
    assert result.exit_code == 0, result.output
    report = _json(run)
    assert report["ok"] is True
    assert report["chained"] == report["entries"] >= 300


def test_import_writes_a_chained_history(run, tmp_path):
    lines, balance = [], 0
    for n in range(1, 4):
        balance += n
        lines.append(
            {
                "id": str(n),
                "currency": "USDT",
                "amount": str(n),
                "fee": "0",
                "balance": str(balance),
                "accountType": "MAIN",
                "bizType": "Deposit",
                "direction": "in",
                "createdAt": 1_700_000_000_000 + n,
                "context": "",
            }
        )
    source = tmp_path / "history.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run("import", str(source), "--uid", "imp", "--quiet")
    assert result.exit_code == 0, result.output
    report = _json(run)
    assert report["ok"] is True
    assert report["chained"] == report["entries"] == 3


def _mismatches(run: Run) -> list[str]:
    result = run("verify")
    assert result.exit_code == 1, result.stdout
    *lines, verdict = result.stdout.splitlines()
    assert verdict.startswith("FAILED:")
    return lines


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("UPDATE accounts SET uid = 'u2'", "account-key"),
        ("UPDATE accounts SET currency = 'BTC'", "account-key"),
        ("UPDATE accounts SET type = 'margin'", "account-key"),
        ("UPDATE entries SET book = 'hf' WHERE seq = 2", "book"),
        (
            'UPDATE operations SET result = replace(result, \'"op":"deposit"\', '
            "'\"op\":\"withdrawal\"') WHERE op_id = 'd2'",
            "operation",
        ),
        ("DELETE FROM operations WHERE op_id = 'd2'", "operation"),
    ],
    ids=["uid", "currency", "type", "book", "result", "deleted-operation"],
)
def test_each_tamper_is_a_mismatch_line_that_names_its_kind(run, five, sql, kind):
    assert run("users", "create", "--uid", "u2").exit_code == 0
    assert execute(_path(), sql) == 1
    lines = _mismatches(run)
    assert lines[0].startswith(f"MISMATCH {kind}: ")
    report = _json(run)
    assert report["findings"][0]["kind"] == kind
    assert kind in report["kinds"] and report["root"] is None


def test_an_account_deleted_after_a_verify_is_named(run, five):
    assert run("verify").exit_code == 0
    [account_id] = _account_ids()
    execute(_path(), "DELETE FROM entries")
    execute(_path(), "DELETE FROM accounts")
    [line] = _mismatches(run)
    assert line.startswith(f"MISMATCH account-gone: account {account_id} (u1 main")


def _account_ids() -> list[str]:
    with closing(sqlite3.connect(_path())) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM accounts")]
