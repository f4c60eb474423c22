"""Tampering with the database file, on both engines: each edit an attacker with
write access made (issue 21) is reported by verify, by kind, naming the account,
entry or operation record to look at."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from kuledger.bootstrap import Container
from kuledger.services import ledger, users
from kuledger.services.retention import apply_retention
from kuledger.services.verify import Kind, VerifyReport
from kuledger.storage import migrate
from kuledger.storage.retention import SqlRetentionStore
from tests.support.chain import as_v1, run_verify, sql

DAY = 86_400_000


def _apply(c: Container, uid: str, op_id: str, **fields: Any) -> None:
    payload = {"op": "deposit", "uid": uid, "id": op_id, "currency": "USDT"} | fields
    ledger.apply(c.uow, payload, c.clock)


@pytest.fixture
def bob(container: Container) -> Container:
    """bob: 99 USDT on main in two deposits, 9 of it moved to trade; carol: none."""
    for uid in ("bob", "carol"):
        users.create_user(container.uow, container.clock, uid=uid)
    for op_id, amount in (("d1", "90"), ("d2", "9")):
        container.clock.advance(1000)
        _apply(container, "bob", op_id, amount=amount)
    container.clock.advance(1000)
    _apply(
        container,
        "bob",
        "t1",
        op="transfer",
        amount="9",
        to="trade",
        **{"from": "main"},
    )
    return container


_run = run_verify


_sql = sql


def _one(c: Container, statement: str, **params: Any) -> Any:
    with c.engine.connect() as conn:
        return conn.execute(sa.text(statement), params).one()


def _usdt(c: Container, type_: str = "main") -> str:
    [account_id] = _one(
        c,
        "SELECT id FROM accounts WHERE uid = 'bob' AND currency = 'USDT' AND type = :t",
        t=type_,
    )
    return str(account_id)


def _kinds(report: VerifyReport) -> set[str]:
    return set(report.kinds)


@pytest.mark.parametrize(
    ("column", "value"),
    [("uid", "carol"), ("currency", "BTC"), ("type", "margin")],
)
def test_an_account_whose_key_was_changed_is_reported(bob, column, value):
    account_id = _usdt(bob)
    changed = _sql(
        bob, f"UPDATE accounts SET {column} = :v WHERE id = :id", v=value, id=account_id
    )
    assert changed == 1
    report = _run(bob)
    assert not report.ok
    assert _kinds(report) == {Kind.ACCOUNT_KEY}
    [finding] = report.findings
    assert finding.account == account_id and finding.seq == 1
    assert "the row says" in finding.message and value in finding.message
    assert "its entries say bob main USDT" in finding.message


def test_a_key_change_of_an_account_without_kept_entries_is_seen_by_the_checkpoint(
    container,
):
    """Retention deleted all its entries: only the checkpoint knows its key."""
    c = container
    for uid in ("bob", "carol"):
        users.create_user(c.uow, c.clock, uid=uid)
    now = c.clock()
    _apply(c, "bob", "old", amount="99", at=now - 100 * DAY)
    apply_retention(SqlRetentionStore(c.engine), now, 30)
    assert _run(c).ok
    _sql(c, "UPDATE accounts SET uid = 'carol' WHERE uid = 'bob'")
    report = _run(c)
    assert _kinds(report) == {Kind.ACCOUNT_KEY}
    [finding] = report.findings
    assert "verified as bob main USDT, now carol main USDT" in finding.message


def test_an_entry_moved_to_another_book_is_reported(bob):
    [entry_id] = _one(bob, "SELECT id FROM entries WHERE op_id = 'd1'")
    assert _sql(bob, "UPDATE entries SET book = 'hf' WHERE id = :id", id=entry_id) == 1
    report = _run(bob)
    assert not report.ok
    # v2 entries also hash their book: the chain breaks there too
    assert _kinds(report) == {Kind.BOOK, Kind.CHAIN}
    finding = report.findings[0]
    assert (finding.kind, finding.entry, finding.seq) == (Kind.BOOK, entry_id, 1)
    assert (
        "is in book 'hf'" in finding.message and "put it in 'spot'" in finding.message
    )


def _result(c: Container, op_id: str) -> dict[str, Any]:
    [text] = _one(c, "SELECT result FROM operations WHERE op_id = :id", id=op_id)
    value: dict[str, Any] = json.loads(text)
    return value


@pytest.mark.parametrize(
    "edit",
    [
        {"entry_ids": [1]},  # another operation's entry
        {"created_at": 5},
        {"op": "withdrawal"},
    ],
    ids=["entry_ids", "created_at", "op"],
)
def test_an_edited_operation_result_is_reported(bob, edit):
    result = _result(bob, "d2") | edit
    assert result != _result(bob, "d2")
    _sql(
        bob,
        "UPDATE operations SET result = :r WHERE op_id = 'd2'",
        r=json.dumps(result, separators=(",", ":")),
    )
    report = _run(bob)
    assert not report.ok
    # At another time, the result lists an entry that is not there.
    assert Kind.OPERATION in report.kinds
    assert _kinds(report) <= {Kind.OPERATION, Kind.MISSING_ENTRY}
    assert {f.operation for f in report.findings} == {("bob", "d2")}


@pytest.mark.parametrize(
    "result", ["not json", '{"entry_ids":[99999999999999999999999]}', "[]"]
)
def test_a_result_that_is_no_record_is_reported_and_stops_nothing(bob, result):
    _sql(bob, "UPDATE operations SET result = :r WHERE op_id = 'd2'", r=result)
    report = _run(bob)
    assert Kind.OPERATION in report.kinds
    assert "is not a record" in report.problems[-1]


def test_an_edited_result_is_reported_even_if_it_stays_consistent(bob):
    """Swap two operations' entry ids: each record is well formed, and the
    hash of the entries it wrote no longer covers it."""
    first, second = _result(bob, "d1"), _result(bob, "d2")
    first["entry_ids"], second["entry_ids"] = second["entry_ids"], first["entry_ids"]
    first["created_at"], second["created_at"] = (
        second["created_at"],
        first["created_at"],
    )
    for record in (first, second):
        _sql(
            bob,
            "UPDATE operations SET result = :r, created_at = :t WHERE op_id = :id",
            r=json.dumps(record, separators=(",", ":")),
            t=record["created_at"],
            id=record["id"],
        )
    report = _run(bob)
    assert not report.ok
    assert Kind.OPERATION in report.kinds or Kind.CHAIN in report.kinds


def test_an_edited_fingerprint_breaks_the_chain_of_its_entries(bob):
    [fingerprint] = _one(bob, "SELECT fingerprint FROM operations WHERE op_id = 'd2'")
    forged = fingerprint.replace('"amount":"9"', '"amount":"900"')
    assert forged != fingerprint
    _sql(bob, "UPDATE operations SET fingerprint = :f WHERE op_id = 'd2'", f=forged)
    report = _run(bob)
    assert _kinds(report) == {Kind.CHAIN}
    [entry_id] = _one(bob, "SELECT id FROM entries WHERE op_id = 'd2'")
    [finding] = report.findings
    assert finding.entry == entry_id
    assert "its operation record ('bob', 'd2')" in finding.message


def test_an_entry_pointed_at_another_operation_record_is_reported(bob):
    [entry_id] = _one(bob, "SELECT id FROM entries WHERE op_id = 'd2'")
    _sql(bob, "UPDATE entries SET op_id = 'd1' WHERE id = :id", id=entry_id)
    report = _run(bob)
    assert _kinds(report) == {Kind.OPERATION}
    [finding] = report.findings
    assert finding.entry == entry_id and finding.operation == ("bob", "d1")
    assert "not entry" in finding.message


def test_an_entry_stripped_of_its_operation_reference_breaks_its_chain(bob):
    """Without a reference an entry is taken as v1: its stored hash is not."""
    [entry_id] = _one(bob, "SELECT id FROM entries WHERE op_id = 'd2'")
    _sql(
        bob,
        "UPDATE entries SET op_uid = NULL, op_id = NULL WHERE id = :id",
        id=entry_id,
    )
    report = _run(bob)
    assert _kinds(report) == {Kind.CHAIN}
    assert report.findings[0].entry == entry_id


def test_a_deleted_operation_record_is_reported(bob):
    """Without its record, a replay of the id would apply the deposit again."""
    assert _sql(bob, "DELETE FROM operations WHERE op_id = 'd1'") == 1
    report = _run(bob)
    assert _kinds(report) == {Kind.OPERATION}
    [finding] = report.findings
    assert finding.operation == ("bob", "d1") and "does not exist" in finding.message


def test_an_edited_hold_record_is_reported(bob):
    """A hold writes no entry: its record is checked on its own."""
    bob.clock.advance(1000)
    _apply(bob, "bob", "h1", op="hold", amount="1", account="main")
    result = _result(bob, "h1") | {"uid": "carol"}
    _sql(
        bob,
        "UPDATE operations SET result = :r WHERE op_id = 'h1'",
        r=json.dumps(result),
    )
    report = _run(bob)
    assert _kinds(report) == {Kind.OPERATION}
    assert "the result's uid is 'carol'" in report.problems[0]


def _delete_account(c: Container, account_id: str) -> None:
    _sql(c, "DELETE FROM entries WHERE account_id = :id", id=account_id)
    assert _sql(c, "DELETE FROM accounts WHERE id = :id", id=account_id) == 1


def test_an_account_deleted_with_its_entries_is_reported(bob):
    assert _run(bob).ok  # the checkpoints remember it
    trade = _usdt(bob, "trade")
    _delete_account(bob, trade)
    report = _run(bob)
    assert not report.ok
    # The transfer's record still lists the entry it wrote there.
    assert _kinds(report) == {Kind.ACCOUNT_GONE, Kind.MISSING_ENTRY}
    [finding] = [f for f in report.findings if f.kind is Kind.ACCOUNT_GONE]
    assert finding.account == trade
    assert "(bob trade USDT) was verified at seq 1 with balance 9" in finding.message


def test_a_deleted_checkpoint_does_not_hide_a_deleted_account(bob):
    assert _run(bob).ok
    trade = _usdt(bob, "trade")
    _delete_account(bob, trade)
    _sql(bob, "DELETE FROM verify_checkpoints WHERE account_id = :id", id=trade)
    report = _run(bob)
    assert _kinds(report) == {Kind.CHECKPOINT, Kind.MISSING_ENTRY}
    assert "the verify checkpoints were changed" in report.problems[0]


def test_emptied_verify_runs_do_not_hide_edited_checkpoints(bob):
    assert _run(bob).ok
    _sql(bob, "DELETE FROM verify_runs")
    _sql(bob, "UPDATE verify_checkpoints SET seq = 0")
    report = _run(bob)
    assert Kind.CHECKPOINT in report.kinds
    assert any("no verify run recording their root" in p for p in report.problems)


def test_removing_the_newest_entries_consistently_is_seen_by_the_checkpoint(bob):
    """Delete the last entry and set the account back to the one before: the
    chain is whole, but the account's seq went back since the last verify."""
    assert _run(bob).ok
    account_id = _usdt(bob)
    [seq, balance, head] = _one(
        bob,
        "SELECT seq, balance, hash FROM entries WHERE account_id = :id AND seq = 2",
        id=account_id,
    )
    _sql(bob, "DELETE FROM entries WHERE account_id = :id AND seq = 3", id=account_id)
    _sql(
        bob,
        "UPDATE accounts SET seq = :s, balance = :b, available = :b, chain_head = :h "
        "WHERE id = :id",
        s=seq,
        b=str(balance),
        h=head,
        id=account_id,
    )
    report = _run(bob)
    assert _kinds(report) == {Kind.CHECKPOINT, Kind.MISSING_ENTRY}
    assert "stored seq 2, the last verify saw seq 3" in report.problems[0]


def test_an_account_deleted_between_two_verifies_shows_in_its_records(bob):
    """No checkpoint saw it, but the records of the operations that wrote its
    entries list them."""
    assert _run(bob).ok
    bob.clock.advance(1000)
    _apply(bob, "carol", "c1", amount="5")
    [account_id] = _one(bob, "SELECT id FROM accounts WHERE uid = 'carol'")
    [entry_id] = _one(
        bob, "SELECT id FROM entries WHERE account_id = :id", id=account_id
    )
    _delete_account(bob, account_id)
    report = _run(bob)
    assert _kinds(report) == {Kind.MISSING_ENTRY}
    [finding] = report.findings
    assert (finding.entry, finding.operation) == (entry_id, ("carol", "c1"))


def test_records_older_than_every_entry_may_have_lost_theirs_to_retention(container):
    """Retention deletes the entries first: stopped before the records, it
    leaves records whose entries are gone, which is no finding."""
    c = container
    users.create_user(c.uow, c.clock, uid="bob")
    now = c.clock()
    _apply(c, "bob", "old", amount="5", at=now - 100 * DAY)
    _apply(c, "bob", "new", amount="5")
    store = SqlRetentionStore(c.engine)
    store.delete_entries(now - 30 * DAY, 0, 100)  # the entries, not the records
    [records] = _one(c, "SELECT count(*) FROM operations")
    assert records == 2
    report = _run(c)
    assert report.ok, report.problems


def test_an_account_created_and_deleted_between_two_verifies_is_not_detected(bob):
    """The documented limit: no trail of account creations. An account that no
    checkpoint saw, deleted with its entries and records, leaves nothing."""
    assert _run(bob).ok
    bob.clock.advance(1000)
    _apply(bob, "carol", "c1", amount="5")
    [account_id] = _one(bob, "SELECT id FROM accounts WHERE uid = 'carol'")
    _delete_account(bob, account_id)
    _sql(bob, "DELETE FROM operations WHERE uid = 'carol'")
    assert _run(bob).ok


def test_a_clean_ledger_stores_a_root_the_next_run_checks(bob):
    first = _run(bob)
    assert first.ok, first.problems
    again = _run(bob)
    assert again.ok and again.root == first.root
    assert again.operations == 3
    with bob.engine.connect() as conn:
        roots = conn.execute(sa.text("SELECT root FROM verify_runs ORDER BY id"))
        assert [r[0] for r in roots] == [first.root, first.root]


def test_since_checks_the_operation_records_of_the_newer_entries(bob):
    assert _run(bob).ok
    bob.clock.advance(1000)
    _apply(bob, "bob", "d3", amount="1")
    _sql(bob, "DELETE FROM operations WHERE op_id = 'd3'")
    report = _run(bob, since=True)
    assert report.entries == 1
    assert _kinds(report) == {Kind.OPERATION}


def test_migration_0005_upgrades_a_v1_history_which_stays_verifiable(bob):
    as_v1(bob)
    migrate.downgrade(bob.engine, "0004")
    account_id = _usdt(bob)
    with bob.engine.begin() as conn:  # a checkpoint as 0004 stored it
        conn.execute(
            sa.text("INSERT INTO verify_checkpoints VALUES (:id, 1, :h, '90', 1)"),
            {"id": account_id, "h": "0" * 64},
        )
    migrate.upgrade(bob.engine)
    [key] = _one(
        bob,
        "SELECT uid || ' ' || type || ' ' || currency FROM verify_checkpoints",
    )
    assert key == "bob main USDT"  # filled in from the account
    [accounts] = _one(bob, "SELECT accounts FROM verify_runs")
    assert accounts == 1  # and recorded, with their root
    report = _run(bob)
    # That old checkpoint (made up here) does not match bob's entry at seq 1.
    assert _kinds(report) == {Kind.CHECKPOINT}
    _sql(bob, "DELETE FROM verify_checkpoints")
    _sql(bob, "DELETE FROM verify_runs")
    report = _run(bob)
    assert report.ok, report.problems
    bob.clock.advance(1000)
    _apply(bob, "bob", "d3", amount="1")  # a v2 entry after three v1 ones
    [(op_id,)] = [_one(bob, "SELECT op_id FROM entries WHERE seq = 4")]
    assert op_id == "d3"
    report = _run(bob)
    assert report.ok, report.problems
    assert report.chained == report.entries == 5
    # The v1 entries still bind their fields (not their book or operation).
    _sql(bob, "UPDATE entries SET context = 'x' WHERE seq = 1 AND op_id IS NULL")
    assert _kinds(_run(bob)) == {Kind.CHAIN}
