"""One group-commit batch is the same as its operations applied one by one.

Hypothesis draws a list of operations (deposits, some into accounts that do
not exist yet, transfers and sub-account transfers that may overdraw, holds
and releases, an unknown user, malformed ones, backdated ones, replays and
conflicting reuses of an id) and applies it twice on fresh databases: with
`ledger.apply`, one transaction each, and with `group_commit.apply_each`, one
transaction for all. Each operation's outcome (the result, or the error's
type), the accounts, the entries and the stored operations must be the same.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuledger.bootstrap import Container
from kuledger.domain.errors import LedgerError
from kuledger.services import ledger, users
from kuledger.services.group_commit import apply_each
from kuledger.storage import migrate, schema
from tests.conftest import PostgresDatabases, make_container
from tests.fakes import FakeClock

RUNS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
UIDS = ("u1", "u2", "s1", "ghost")  # s1 is u2's sub-account; ghost never exists
IDS = ("a", "b", "c", "d", "e", "f")  # few: replays and conflicts are common
AMOUNTS = ("0.5", "3", "40", "1000")  # the seed is 50 a account: 1000 overdraws
ACCOUNTS = ("main", "trade", "margin")  # no margin account is seeded

operations = st.one_of(
    st.fixed_dictionaries(
        {
            "op": st.just("deposit"),
            "account": st.sampled_from(ACCOUNTS),
            "amount": st.sampled_from(AMOUNTS),
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.just("transfer"),
            "from": st.sampled_from(ACCOUNTS),
            "to": st.sampled_from(ACCOUNTS),
            "amount": st.sampled_from(AMOUNTS),
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.just("sub_transfer"),
            "sub_uid": st.sampled_from(("s1", "u1")),
            "direction": st.sampled_from(("to_sub", "to_parent")),
            "amount": st.sampled_from(AMOUNTS),
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(("hold", "release")),
            "account": st.sampled_from(ACCOUNTS),
            "amount": st.sampled_from(AMOUNTS),
        }
    ),
    st.fixed_dictionaries({"op": st.just("transfer")}),  # malformed
)
payloads = st.lists(
    st.tuples(
        operations,
        st.sampled_from(UIDS),
        st.sampled_from(IDS),
        st.sampled_from((None, None, None, 0)),  # 0: backdated
    ).map(
        lambda t: {
            **t[0],
            "uid": t[1],
            "id": t[2],
            "currency": "USDT",
            **({} if t[3] is None else {"at": t[3]}),
        }
    ),
    min_size=1,
    max_size=25,
)


def _prepare(container: Container) -> None:
    users.create_user(container.uow, container.clock, uid="u1")
    users.create_user(container.uow, container.clock, uid="u2")
    users.create_user(container.uow, container.clock, uid="s1", parent_uid="u2")
    ledger.apply_batch(
        container.uow,
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": f"seed-{uid}-{account}",
                "currency": "USDT",
                "amount": "50",
                "account": account,
            }
            for uid in ("u1", "u2", "s1")
            for account in ("main", "trade")
        ],
        container.clock,
    )


def _outcome(outcome: object) -> object:
    if isinstance(outcome, LedgerError):
        return type(outcome).__name__
    return outcome


def _state(container: Container, ids: bool) -> tuple[object, ...]:
    """Accounts, entries and operations; entry ids only if `ids` (a
    PostgreSQL sequence does not roll back, SQLite's counter does). Never the
    hashes: they cover account ids, which are random."""
    with container.engine.connect() as conn:
        accounts = sorted(
            tuple(r)
            for r in conn.execute(
                sa.select(
                    schema.accounts.c.uid,
                    schema.accounts.c.type,
                    schema.accounts.c.balance,
                    schema.accounts.c.available,
                    schema.accounts.c.holds,
                    schema.accounts.c.seq,
                )
            )
        )
        entries = sorted(
            tuple(r)
            for r in conn.execute(
                sa.select(
                    schema.entries.c.uid,
                    schema.entries.c.account_type,
                    schema.entries.c.seq,
                    schema.entries.c.amount,
                    schema.entries.c.balance,
                    schema.entries.c.direction,
                    schema.entries.c.op_id,
                    *([schema.entries.c.id] if ids else []),
                )
            )
        )
        records = sorted(
            tuple(r)
            for r in conn.execute(
                sa.select(
                    schema.operations.c.uid,
                    schema.operations.c.op_id,
                    schema.operations.c.fingerprint,
                    *([schema.operations.c.result] if ids else []),
                )
            )
        )
    return accounts, entries, records


def _check(urls: tuple[str, str], batch: list[dict[str, Any]], ids: bool) -> None:
    one_by_one, grouped = (make_container(url, FakeClock()) for url in urls)
    try:
        for container in (one_by_one, grouped):
            _prepare(container)
        expected = []
        for payload in batch:
            try:
                expected.append(ledger.apply(one_by_one.uow, payload, one_by_one.clock))
            except LedgerError as exc:
                expected.append(exc)
        found = apply_each(grouped.uow, batch, grouped.clock)
        if ids:
            assert list(map(_outcome, found)) == list(map(_outcome, expected))
        else:  # the same, but for the entry ids in the results
            assert [
                _outcome(o) if isinstance(o, LedgerError) else (o.op, o.replayed)
                for o in found
            ] == [
                _outcome(o) if isinstance(o, LedgerError) else (o.op, o.replayed)
                for o in expected
            ]
        assert _state(grouped, ids) == _state(one_by_one, ids)
    finally:
        one_by_one.close()
        grouped.close()


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    container = make_container(f"sqlite:///{path}")
    migrate.upgrade(container.engine)
    container.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # fold the WAL into the file
    return path


@contextlib.contextmanager
def _sqlite_pair(template: Path) -> Iterator[tuple[str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="kuledger-gc-"))
    try:
        for name in ("a.db", "b.db"):
            shutil.copyfile(template, folder / name)
        yield (f"sqlite:///{folder / 'a.db'}", f"sqlite:///{folder / 'b.db'}")
    finally:
        shutil.rmtree(folder)


def test_a_batch_on_sqlite_is_its_operations_one_by_one(sqlite_template):
    @RUNS
    @given(payloads)
    def check(batch: list[dict[str, Any]]) -> None:
        with _sqlite_pair(sqlite_template) as urls:
            _check(urls, batch, ids=True)

    check()


@pytest.mark.postgres
def test_a_batch_on_postgresql_is_its_operations_one_by_one(
    postgres_databases: PostgresDatabases,
):
    urls = (postgres_databases.new(), postgres_databases.new())

    @settings(RUNS, max_examples=10)
    @given(payloads)
    def check(batch: list[dict[str, Any]]) -> None:
        for url in urls:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "TRUNCATE users, accounts, entries, operations, api_keys CASCADE"
                )
        _check(urls, batch, ids=False)

    check()
