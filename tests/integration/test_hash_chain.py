"""The per-account hash chain on both engines: written by every path, checked by
verify, which names the first bad entry of each broken account."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kuledger.bootstrap import Container
from kuledger.domain.chain import (
    GENESIS,
    canonical,
    entry_hash_v2,
    operation_digest,
)
from kuledger.domain.money import to_wire
from kuledger.services import importing, ledger, users
from kuledger.services.retention import apply_retention
from kuledger.services.seed import SeedPlan, generate
from kuledger.services.verify import VerifyReport
from kuledger.storage import migrate
from kuledger.storage.retention import SqlRetentionStore
from tests.support.chain import as_v1, run_verify, sql

DAY = 86_400_000


def _apply(c: Container, op_id: str, op: str = "deposit", **fields: Any) -> None:
    payload = {"op": op, "uid": "u1", "id": op_id, "currency": "USDT"} | fields
    ledger.apply(c.uow, payload, c.clock)


@pytest.fixture
def five(container: Container) -> Container:
    """u1's main USDT account with five entries (seq 1..5)."""
    users.create_user(container.uow, container.clock, uid="u1")
    for n in range(1, 6):
        container.clock.advance(1000)
        _apply(container, f"d{n}", amount=str(n * 10), context=json.dumps({"n": n}))
    return container


_run, _sql = run_verify, sql


def _ids(c: Container) -> dict[int, int]:
    """seq -> entry id of u1's account."""
    with c.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, id FROM entries WHERE uid = 'u1'"))
        return {int(seq): int(id_) for seq, id_ in rows.all()}


def _chain_problems(report: VerifyReport) -> list[str]:
    return [p for p in report.problems if "chain" in p]


_V2_COLUMNS = (
    "e.id, e.uid, e.account_id, e.account_type, e.currency, e.amount, e.fee, "
    "e.balance, e.direction, e.biz_code, e.created_at, e.context, e.seq, e.book, "
    "o.uid, o.op_id, o.fingerprint, o.result, o.created_at, e.hash FROM entries e "
    "JOIN operations o ON o.uid = e.op_uid AND o.op_id = e.op_id"
)


def _v2_hash(prev: str, r: Any) -> str:
    """An entry's v2 hash from a row of _V2_COLUMNS."""
    fields = (*r[:5], *(sa_decimal(v) for v in r[5:8]), *r[8:13])
    return entry_hash_v2(prev, *fields, r[13], operation_digest(*r[14:19]))


def test_every_entry_is_chained_and_the_head_is_the_last_hash(five):
    with five.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {_V2_COLUMNS} ORDER BY e.seq")).all()
        head = conn.execute(sa.text("SELECT chain_head FROM accounts")).scalar_one()
    assert len(rows) == 5  # every entry names its operation record
    prev = GENESIS
    for r in rows:
        assert r.hash == _v2_hash(prev, r)
        prev = r.hash
    assert head == prev
    report = _run(five)
    assert report.ok, report.problems
    assert report.chained == report.entries == 5


def sa_decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def test_the_canonical_encoding_is_fixed():
    data = canonical(
        GENESIS, 7, "u1", "a" * 24, "main", "USDT", Decimal("10.50"),
        Decimal("0"), Decimal("1E+1"), "in", "DEPOSIT", 1000, '{"é":1}', 1,
    )  # fmt: skip
    assert (
        data
        == (
            '["kuledger-chain-v1","' + GENESIS + '",7,"u1","' + "a" * 24 + '",'
            '"main","USDT","10.5","0","10","in","DEPOSIT",1000,"{\\"é\\":1}",1]'
        ).encode()
    )
    assert to_wire(Decimal("10.50")) == "10.5"


@pytest.mark.parametrize(
    ("column", "value"),
    [("amount", "31"), ("context", '{"n":99}'), ("created_at", 1)],
)
def test_an_edited_entry_is_the_first_bad_entry(five, column, value):
    ids = _ids(five)
    changed = _sql(
        five, f"UPDATE entries SET {column} = :v WHERE id = :id", v=value, id=ids[3]
    )
    assert changed == 1
    report = _run(five)
    assert not report.ok
    [problem] = _chain_problems(report)
    assert f"chain broken at entry {ids[3]} (seq 3)" in problem
    assert report.broken_chains == 1


def test_a_deleted_middle_entry_breaks_the_chain_at_the_next(five):
    ids = _ids(five)
    assert _sql(five, "DELETE FROM entries WHERE id = :id", id=ids[3]) == 1
    report = _run(five)
    [problem] = _chain_problems(report)
    assert f"chain broken at entry {ids[4]} (seq 4)" in problem


def test_swapped_seqs_break_the_chain_at_the_first_moved_entry(five):
    ids = _ids(five)
    _sql(five, "UPDATE entries SET seq = -2 WHERE id = :id", id=ids[2])
    _sql(five, "UPDATE entries SET seq = 2 WHERE id = :id", id=ids[3])
    _sql(five, "UPDATE entries SET seq = 3 WHERE id = :id", id=ids[2])
    report = _run(five)
    [problem] = _chain_problems(report)
    assert f"chain broken at entry {ids[3]} (seq 2)" in problem


def test_a_forged_chain_head_is_detected(five):
    _sql(five, "UPDATE accounts SET chain_head = :h", h="f" * 64)
    report = _run(five)
    [problem] = report.problems
    assert "stored chain head ffffffffffffffff" in problem
    assert report.broken_chains == 1


def test_a_consistent_rewrite_of_the_hashes_is_not_detected(five):
    """The documented limit: an attacker who recomputes the chain wins."""
    ids = _ids(five)
    _sql(five, "UPDATE entries SET context = 'x' WHERE id = :id", id=ids[5])
    with five.engine.connect() as conn:
        row = conn.execute(
            sa.text(f"SELECT {_V2_COLUMNS} WHERE e.id = :id"), {"id": ids[5]}
        ).one()
        prev = conn.execute(
            sa.text("SELECT hash FROM entries WHERE id = :id"), {"id": ids[4]}
        ).scalar_one()
    forged = _v2_hash(prev, row)
    _sql(five, "UPDATE entries SET hash = :h WHERE id = :id", h=forged, id=ids[5])
    _sql(five, "UPDATE accounts SET chain_head = :h", h=forged)
    assert _run(five).ok


def test_since_reads_only_new_entries_and_still_detects_tampering(five):
    full = _run(five)
    assert full.ok and full.entries == 5 and full.resumed == 0
    for n in (6, 7):
        five.clock.advance(1000)
        _apply(five, f"d{n}", amount="1")
    report = _run(five, since=True)
    assert report.ok, report.problems
    assert (report.entries, report.chained, report.resumed) == (2, 2, 1)
    again = _run(five, since=True)  # checkpoints moved to seq 7
    assert (again.entries, again.resumed) == (0, 1) and again.ok
    five.clock.advance(1000)
    _apply(five, "d8", amount="1")
    ids = _ids(five)
    _sql(five, "UPDATE entries SET context = 'moved' WHERE id = :id", id=ids[8])
    tampered = _run(five, since=True)
    assert tampered.entries == 1
    [problem] = _chain_problems(tampered)
    assert f"chain broken at entry {ids[8]} (seq 8)" in problem


def test_since_does_not_recheck_rows_below_the_checkpoint(five):
    assert _run(five).ok
    ids = _ids(five)
    _sql(five, "UPDATE entries SET context = 'old' WHERE id = :id", id=ids[2])
    assert _run(five, since=True).ok  # documented: rows below are not re-read
    [problem] = _chain_problems(_run(five))
    assert f"chain broken at entry {ids[2]} (seq 2)" in problem


def test_since_catches_a_forged_head_on_an_account_without_new_entries(five):
    assert _run(five).ok
    _sql(five, "UPDATE accounts SET chain_head = :h", h="e" * 64)
    report = _run(five, since=True)
    assert report.entries == 0
    assert "stored chain head eeeeeeeeeeeeeeee" in report.problems[0]


def test_retention_keeps_the_chain_verifiable(container):
    c = container
    users.create_user(c.uow, c.clock, uid="u1")
    now = c.clock()
    for n, days in enumerate((100, 60, 40, 5, 1)):
        _apply(c, f"r{n}", amount="10", at=now - days * DAY)
    assert _run(c).ok
    apply_retention(SqlRetentionStore(c.engine), now, 30)
    [account] = c.reader.all_accounts()
    assert account.base_seq == 3 and account.base_hash != GENESIS
    report = _run(c)
    assert report.ok, report.problems
    assert report.entries == report.chained == 2
    assert _run(c, since=True).ok  # checkpoints beyond the base still apply


def test_seed_writes_chained_entries(container):
    plan = SeedPlan(3, 200, 10, 7, container.clock())
    for index in range(plan.users):
        users.create_user(container.uow, container.clock, uid=plan.uid(index))
    payloads = [payload for payload, _ in generate(plan)]
    ledger.apply_batch(container.uow, payloads, container.clock)
    report = _run(container)
    assert report.ok, report.problems
    assert report.chained == report.entries >= 200
    with container.engine.connect() as conn:
        empty = conn.execute(sa.text("SELECT count(*) FROM entries WHERE hash = ''"))
        assert empty.scalar_one() == 0


def test_import_writes_chained_entries(container):
    lines = []
    balance = 0
    for n in range(1, 6):
        balance += n
        lines.append(
            json.dumps(
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
        )
    importing.import_history(
        container.uow,
        container.reader,
        container.clock,
        "imported",
        lambda: importing.read_items(lines, "jsonl"),
    )
    report = _run(container)
    assert report.ok, report.problems
    assert report.chained == report.entries == 5


def test_migration_0004_chains_existing_entries(five):
    as_v1(five)  # what 0004 wrote: v1, no operation references
    before = _hashes(five)
    migrate.downgrade(five.engine, "0003")
    migrate.upgrade(five.engine)
    assert _hashes(five) == before
    assert _run(five).ok


def _hashes(c: Container) -> tuple[object, ...]:
    with c.engine.connect() as conn:
        entries = conn.execute(sa.text("SELECT id, hash FROM entries ORDER BY id"))
        heads = conn.execute(sa.text("SELECT id, chain_head FROM accounts"))
        return tuple(entries), tuple(heads)
