"""Concurrent writers on both engines: no deadlock, no lost update, no double apply.

Eight threads share one container (the SQLAlchemy engine is thread-safe) and
post transfers that contend for a few hot accounts, in both directions so that
their posting orders conflict. Balances are then recomputed from the results
the service reported and compared with the database.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kuledger.bootstrap import Container
from kuledger.domain.errors import IdempotencyConflict, InsufficientBalance
from kuledger.services import ledger, users
from kuledger.services.ledger import OperationResult
from kuledger.services.verify import verify

THREADS = 8
OPERATIONS_PER_THREAD = 40
PARENTS = ("p1", "p2", "p3")
SUBS = {"s1": "p1", "s2": "p2"}
START = {
    **{(uid, kind): Decimal(500) for uid in PARENTS for kind in ("main", "trade")},
    **{(sub, "main"): Decimal(100) for sub in SUBS},
}
OVERDRAFT = "1000000"  # more than all the money there is: must always fail


class TickingClock:
    """A clock that moves forward by one millisecond on every reading."""

    def __init__(self, start: int = 1_790_000_000_000) -> None:
        self._ticks = itertools.count(start)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return next(self._ticks)


Outcome = OperationResult | Exception


def _run_threads(work: Callable[[int], list[tuple[dict[str, Any], Outcome]]]) -> list:
    """Run work(index) on THREADS threads started together; return all outcomes."""
    start = threading.Barrier(THREADS)
    outcomes: list[list[tuple[dict[str, Any], Outcome]]] = [[] for _ in range(THREADS)]

    def run(index: int) -> None:
        start.wait()
        outcomes[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    return [pair for per_thread in outcomes for pair in per_thread]


def _apply(
    container: Container, clock: TickingClock, payload: dict[str, Any]
) -> Outcome:
    try:
        return ledger.apply(container.uow, payload, clock)
    except Exception as exc:  # recorded: the test says which ones are allowed
        return exc


@pytest.fixture
def funded(container: Container) -> Container:
    fund(container)
    return container


def fund(container: Container) -> None:
    """The users of PARENTS and SUBS, with START's balances."""
    for uid in PARENTS:
        users.create_user(container.uow, container.clock, uid=uid)
    for sub, parent in SUBS.items():
        users.create_user(container.uow, container.clock, uid=sub, parent_uid=parent)
    ledger.apply_batch(
        container.uow,
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": f"fund-{uid}-{kind}",
                "currency": "USDT",
                "amount": str(amount),
                "account": kind,
            }
            for (uid, kind), amount in START.items()
        ],
        container.clock,
    )


def _random_transfer(rng: random.Random, op_id: str) -> dict[str, Any]:
    amount = f"{rng.randint(1, 300)}.{rng.randint(0, 99):02d}"
    if rng.random() < 0.1:
        amount = OVERDRAFT
    if rng.random() < 0.6:
        source, target = rng.sample(["main", "trade"], 2)
        return {
            "op": "transfer",
            "uid": rng.choice(PARENTS),
            "id": op_id,
            "currency": "USDT",
            "amount": amount,
            "from": source,
            "to": target,
        }
    sub = rng.choice(sorted(SUBS))
    return {
        "op": "sub_transfer",
        "uid": SUBS[sub],
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
        "sub_uid": sub,
        "direction": rng.choice(["to_sub", "to_parent"]),
    }


def _expected_balances(
    outcomes: list[tuple[dict[str, Any], Outcome]],
) -> dict[tuple[str, str], Decimal]:
    balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal, START)
    for payload, outcome in outcomes:
        if isinstance(outcome, Exception):
            continue
        amount = Decimal(payload["amount"])
        if payload["op"] == "transfer":
            source = (payload["uid"], payload["from"])
            target = (payload["uid"], payload["to"])
        else:
            parent, sub = (payload["uid"], "main"), (payload["sub_uid"], "main")
            source, target = (
                (parent, sub) if payload["direction"] == "to_sub" else (sub, parent)
            )
        balances[source] -= amount
        balances[target] += amount
    return dict(balances)


def _database_balances(container: Container) -> dict[tuple[str, str], Decimal]:
    found = {}
    for account in container.reader.all_accounts():
        assert account.key.currency == "USDT"
        assert account.available == account.balance
        assert account.holds == 0
        found[(account.key.uid, account.key.type.value)] = account.balance
    return found


def _entry_count(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM entries")).scalar_one())


def _entry_times_follow_their_sequence(container: Container) -> bool:
    times: dict[str, list[tuple[int, int]]] = defaultdict(list)
    with container.engine.connect() as conn:
        for account_id, seq, created_at in conn.execute(
            sa.text("SELECT account_id, seq, created_at FROM entries")
        ):
            times[account_id].append((seq, created_at))
    return all(
        [at for _, at in sorted(rows)] == sorted(at for _, at in rows)
        for rows in times.values()
    )


def test_concurrent_transfers_on_hot_accounts_lose_no_update(funded):
    clock = TickingClock()

    def work(index: int) -> list[tuple[dict[str, Any], Outcome]]:
        rng = random.Random(index)
        done = []
        for n in range(OPERATIONS_PER_THREAD):
            payload = _random_transfer(rng, f"t{index}-{n}")
            done.append((payload, _apply(funded, clock, payload)))
        return done

    outcomes = _run_threads(work)

    unexpected = [
        (payload, outcome)
        for payload, outcome in outcomes
        if isinstance(outcome, Exception)
        and not isinstance(outcome, InsufficientBalance)
    ]
    assert unexpected == []
    succeeded = [o for _, o in outcomes if isinstance(o, OperationResult)]
    failed = [o for _, o in outcomes if isinstance(o, InsufficientBalance)]
    assert succeeded and failed, "the mix should have both outcomes"
    overdrafts = [o for p, o in outcomes if p["amount"] == OVERDRAFT]
    assert overdrafts and all(isinstance(o, InsufficientBalance) for o in overdrafts)
    assert _database_balances(funded) == _expected_balances(outcomes)
    assert _entry_count(funded) == len(START) + 2 * len(succeeded)
    ids = [i for result in succeeded for i in result.entry_ids]
    assert len(set(ids)) == len(ids)
    assert _entry_times_follow_their_sequence(funded)
    report = verify(funded.reader.all_accounts(), funded.reader.entry_trail())
    assert report.ok, report.problems


def test_concurrent_retries_of_one_operation_apply_it_once(funded):
    clock = TickingClock()
    payload = {
        "op": "transfer",
        "uid": "p1",
        "id": "retried",
        "currency": "USDT",
        "amount": "7.5",
        "from": "main",
        "to": "trade",
    }

    def work(index: int) -> list[tuple[dict[str, Any], Outcome]]:
        return [(payload, _apply(funded, clock, payload)) for _ in range(3)]

    outcomes = [outcome for _, outcome in _run_threads(work)]

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    results = [o for o in outcomes if isinstance(o, OperationResult)]
    assert Counter(r.replayed for r in results) == {True: len(results) - 1, False: 1}
    assert len({(r.entry_ids, r.created_at) for r in results}) == 1
    balances = _database_balances(funded)
    assert balances[("p1", "main")] == Decimal("492.5")
    assert balances[("p1", "trade")] == Decimal("507.5")
    assert _entry_count(funded) == len(START) + 2


def test_one_id_posted_at_once_to_other_accounts_applies_once(funded):
    """The same (uid, id) with other payloads on other accounts: the account
    locks do not order them, so the operation record's unique key does (on
    PostgreSQL a COPY's unique violation, reported as the id being taken)."""
    clock = TickingClock()
    currencies = ("USDT", "BTC", "ETH", "KCS")

    def work(index: int) -> list[tuple[dict[str, Any], Outcome]]:
        payload = {
            "op": "deposit",
            "uid": "p1",
            "id": "one-id",
            "currency": currencies[index % len(currencies)],
            "amount": str(index + 1),
            "account": ("main", "trade")[index // len(currencies) % 2],
        }
        return [(payload, _apply(funded, clock, payload))]

    outcomes = [outcome for _, outcome in _run_threads(work)]

    applied = [o for o in outcomes if isinstance(o, OperationResult)]
    refused = [o for o in outcomes if not isinstance(o, OperationResult)]
    assert len(applied) == 1 and not applied[0].replayed
    assert all(isinstance(o, IdempotencyConflict) for o in refused), refused
    assert _entry_count(funded) == len(START) + 1


def test_concurrent_first_deposits_create_an_account_once(funded):
    clock = TickingClock()

    def work(index: int) -> list[tuple[dict[str, Any], Outcome]]:
        done = []
        for n in range(5):
            payload = {
                "op": "deposit",
                "uid": PARENTS[n % len(PARENTS)],
                "id": f"new-{index}-{n}",
                "currency": ("BTC", "ETH", "KCS")[n % 3],
                "amount": "0.5",
                "account": "trade",
            }
            done.append((payload, _apply(funded, clock, payload)))
        return done

    outcomes = _run_threads(work)

    assert [o for _, o in outcomes if isinstance(o, Exception)] == []
    expected: Counter[tuple[str, str]] = Counter()
    for payload, _ in outcomes:
        expected[(payload["uid"], payload["currency"])] += 1
    found = {
        (a.key.uid, a.key.currency): a
        for a in funded.reader.all_accounts()
        if a.key.currency != "USDT"
    }
    assert set(found) == set(expected)
    for key, account in found.items():
        assert account.balance == Decimal("0.5") * expected[key]
        assert account.seq == expected[key]
    report = verify(funded.reader.all_accounts(), funded.reader.entry_trail())
    assert report.ok, report.problems
