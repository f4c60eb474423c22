"""`kuledger funding` on a real SQLite file: each move is one transaction with
its ledger operation, a refused move writes nothing, and `kuledger verify`
finds a SUCCESS deposit or withdrawal whose operation is gone."""

from __future__ import annotations

import json

from tests.cli.conftest import dump, execute


def _json(run, *args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _user(run, uid="u1"):
    assert run("users", "create", "--uid", uid).exit_code == 0


def test_a_deposit_is_booked_only_when_it_succeeds_and_a_replay_adds_nothing(
    run, db_path
):
    _user(run)
    made = _json(
        run,
        "funding",
        "deposit",
        "--uid",
        "u1",
        "--currency",
        "BTC",
        "--amount",
        "0.25",
    )
    assert made["status"] == "PROCESSING" and made["op_id"] is None
    assert _json(run, "ledger", "--uid", "u1", "--json") == []
    done = _json(run, "funding", "advance-deposit", made["id"], "--status", "SUCCESS")
    assert done["op_id"] == f"deposit:{made['id']}"
    before = dump(db_path)
    assert (
        _json(run, "funding", "advance-deposit", made["id"], "--status", "SUCCESS")
        == done
    )
    assert dump(db_path) == before  # the replay wrote nothing
    [entry] = _json(run, "ledger", "--uid", "u1", "--json")
    assert (entry["bizType"], entry["amount"]) == ("DEPOSIT", "0.25")
    assert run("verify").exit_code == 0


def test_a_deposit_id_is_an_idempotency_key(run, db_path):
    _user(run)
    args = ("funding", "deposit", "--uid", "u1", "--currency", "BTC", "--id", "dep-1")
    first = _json(run, *args, "--amount", "1", "--status", "SUCCESS")
    assert _json(run, *args, "--amount", "1", "--status", "SUCCESS") == first
    before = dump(db_path)
    refused = run(*args, "--amount", "2")
    assert refused.exit_code == 1
    assert dump(db_path) == before


def test_a_refused_move_writes_nothing(run, db_path):
    _user(run)
    made = _json(
        run,
        "funding",
        "deposit",
        "--uid",
        "u1",
        "--currency",
        "BTC",
        "--amount",
        "1",
        "--status",
        "FAILURE",
    )
    before = dump(db_path)
    result = run("funding", "advance-deposit", made["id"], "--status", "SUCCESS")
    assert result.exit_code == 1
    assert "is FAILURE: it cannot become SUCCESS" in result.output
    assert dump(db_path) == before
    assert (
        run(
            "funding",
            "deposit",
            "--uid",
            "nobody",
            "--currency",
            "BTC",
            "--amount",
            "1",
        ).exit_code
        == 1
    )
    assert (
        run(
            "funding",
            "deposit",
            "--uid",
            "u1",
            "--currency",
            "BTC",
            "--amount",
            "0.000000001",
        ).exit_code
        == 1
    )
    assert dump(db_path) == before


def test_verify_finds_a_success_whose_ledger_operation_is_gone(run, db_path):
    _user(run)
    made = _json(
        run, "funding", "deposit", "--uid", "u1", "--currency", "BTC", "--amount", "1"
    )
    assert run("verify").exit_code == 0
    # A SUCCESS written behind kuledger's back: no operation, no entry.
    execute(
        db_path,
        "UPDATE deposits SET status = 'SUCCESS', op_id = ? WHERE id = ?",
        f"deposit:{made['id']}",
        made["id"],
    )
    result = run("verify", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["kinds"] == {"operation": 1}
    assert f"deposit {made['id']} of u1 is SUCCESS" in report["problems"][0]
