"""Group commit on both engines: concurrent callers through GroupCommitWriter
get one outcome each, exactly once; a refused operation in a batch fails alone
and writes nothing; replays inside a batch; batches really coalesce; and two
writer processes on the same hot accounts (PostgreSQL) neither deadlock nor
lose an update."""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from kuledger.bootstrap import Container, build_writer
from kuledger.domain.accounts import AccountType
from kuledger.domain.errors import (
    IdempotencyConflict,
    InsufficientBalance,
    InvalidInput,
    UnknownUser,
)
from kuledger.domain.events import BalanceChange
from kuledger.services import transfers
from kuledger.services.group_commit import GroupCommitWriter, apply_each
from kuledger.services.ledger import BatchError, OperationResult
from kuledger.services.ports import UnitOfWork
from kuledger.services.transfers import TransferRequest
from kuledger.services.verify import verify
from tests.conftest import make_container
from tests.integration.test_concurrency import (
    OVERDRAFT,
    START,
    TickingClock,
    _database_balances,
    _entry_count,
    _expected_balances,
    _random_transfer,
    fund,
)

THREADS = 32
OPERATIONS_PER_THREAD = 15


@pytest.fixture
def funded(container: Container) -> Container:
    fund(container)
    return container


def _transfer(op_id: str, amount: str, uid: str = "p1") -> dict[str, Any]:
    return {
        "op": "transfer",
        "uid": uid,
        "id": op_id,
        "currency": "USDT",
        "amount": amount,
        "from": "main",
        "to": "trade",
    }


def _run_threads(count: int, work: Callable[[int], list[Any]]) -> list[Any]:
    start = threading.Barrier(count)
    done: list[list[Any]] = [[] for _ in range(count)]

    def run(index: int) -> None:
        start.wait()
        done[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a caller is stuck"
    return [item for per_thread in done for item in per_thread]


def _assert_consistent(container: Container, outcomes: list[Any]) -> None:
    assert _database_balances(container) == _expected_balances(outcomes)
    succeeded = [o for _, o in outcomes if isinstance(o, OperationResult)]
    assert _entry_count(container) == len(START) + 2 * len(succeeded)
    ids = [i for result in succeeded for i in result.entry_ids]
    assert len(set(ids)) == len(ids)
    report = verify(container.reader.all_accounts(), container.reader.entry_trail())
    assert report.ok, report.problems


def test_concurrent_callers_are_each_answered_once_and_batches_coalesce(funded):
    clock = TickingClock()
    writer = GroupCommitWriter(funded.uow, clock, max_wait=0.005)

    def work(index: int) -> list[tuple[dict[str, Any], Any]]:
        rng = random.Random(index)
        done = []
        for n in range(OPERATIONS_PER_THREAD):
            # half of them on one hot pair of accounts
            payload = (
                _transfer(f"t{index}-{n}", f"{rng.randint(1, 20)}.5")
                if index % 2
                else _random_transfer(rng, f"t{index}-{n}")
            )
            [outcome] = writer([payload], False)
            done.append((payload, outcome))
        return done

    outcomes = _run_threads(THREADS, work)

    assert len(outcomes) == THREADS * OPERATIONS_PER_THREAD
    unexpected = [
        o
        for _, o in outcomes
        if not isinstance(o, OperationResult | InsufficientBalance)
    ]
    assert unexpected == []
    assert not any(isinstance(o, OperationResult) and o.replayed for _, o in outcomes)
    overdrafts = [o for p, o in outcomes if p["amount"] == OVERDRAFT]
    assert overdrafts and all(isinstance(o, InsufficientBalance) for o in overdrafts)
    assert writer.operations == len(outcomes)
    assert writer.batches < writer.operations  # coalesced
    _assert_consistent(funded, outcomes)


class _HeldFirstBatch:
    """A uow factory whose first transaction waits for `release`: callers
    queue up behind it meanwhile, and are then committed as one batch."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> UnitOfWork:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(60)
        return self._container.uow()


def _wait_queued(writer: GroupCommitWriter, count: int) -> None:
    deadline = threading.Event()
    for _ in range(6000):  # 60 s at most
        if writer._queued() >= count:
            return
        deadline.wait(0.01)
    raise AssertionError(f"only {writer._queued()} operations queued")


def test_a_queued_batch_commits_together_and_refusals_fail_alone(funded):
    factory = _HeldFirstBatch(funded)
    writer = GroupCommitWriter(factory, TickingClock(), max_wait=0)
    payloads = [
        _transfer("a", "10"),
        _transfer("b", OVERDRAFT),  # overdraft in the middle
        _transfer("c", "20"),
        _transfer("a", "10"),  # replay of a, in the same batch
        _transfer("c", "21"),  # c again, another payload: a conflict
        {"op": "transfer", "uid": "p1", "id": "d"},  # malformed
        _transfer("e", "1", uid="nobody"),
        {**_transfer("f", "5"), "from": "trade", "to": "main"},
    ]
    outcomes: dict[int, Any] = {}

    def call(index: int) -> None:
        [outcomes[index]] = writer([payloads[index]], False)

    first = threading.Thread(target=writer, args=([_transfer("first", "1")], False))
    first.start()
    assert factory.entered.wait(60)
    threads = []
    for index in range(len(payloads)):  # one at a time: the queue keeps order
        threads.append(threading.Thread(target=call, args=(index,)))
        threads[-1].start()
        _wait_queued(writer, index + 1)
    factory.release.set()
    for thread in [first, *threads]:
        thread.join(60)

    assert writer.batches == 2 and writer.operations == 1 + len(payloads)
    a, b, c, replay, conflict, malformed, unknown, f = (
        outcomes[i] for i in range(len(payloads))
    )
    assert isinstance(a, OperationResult) and not a.replayed
    assert isinstance(b, InsufficientBalance)
    assert isinstance(c, OperationResult)
    assert replay == OperationResult(a.uid, a.id, a.op, a.entry_ids, a.created_at, True)
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(malformed, InvalidInput)
    assert isinstance(unknown, UnknownUser)
    assert isinstance(f, OperationResult)
    balances = _database_balances(funded)
    assert balances[("p1", "main")] == START[("p1", "main")] - 1 - 10 - 20 + 5
    assert _entry_count(funded) == len(START) + 2 * 4
    report = verify(funded.reader.all_accounts(), funded.reader.entry_trail())
    assert report.ok, report.problems


class _Revoked(Exception):
    pass


def test_a_failing_check_refuses_only_its_requests_and_runs_once_a_batch(funded):
    factory = _HeldFirstBatch(funded)
    writer = GroupCommitWriter(factory, TickingClock(), max_wait=0)
    runs: Counter[str] = Counter()

    def passing() -> None:
        runs["passing"] += 1

    def failing() -> None:
        runs["failing"] += 1
        raise _Revoked()

    checks = [passing, failing, passing, failing, None]
    futures: list[Any] = []
    first = threading.Thread(target=writer, args=([_transfer("first", "1")], False))
    first.start()
    assert factory.entered.wait(60)
    for index, check in enumerate(checks):  # queued behind the held batch
        futures.append(writer.submit([_transfer(f"k{index}", "1")], False, check))
    factory.release.set()
    first.join(60)
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(60))
        except _Revoked as exc:
            outcomes.append(exc)

    assert runs == Counter(passing=1, failing=1)  # once for the whole batch
    assert [isinstance(o, _Revoked) for o in outcomes] == [
        False,
        True,
        False,
        True,
        False,
    ]
    assert all(isinstance(o[0], OperationResult) for o in outcomes[::2])
    assert _entry_count(funded) == len(START) + 2 * (1 + 3)  # first, k0, k2, k4


def test_a_refused_operation_creates_no_account(funded):
    fresh = {**_transfer("x", "1"), "from": "margin"}  # p1 has no margin account
    outcomes = apply_each(
        funded.uow, [_transfer("ok", "3"), fresh, _transfer("ok2", "4")], funded.clock
    )

    assert isinstance(outcomes[0], OperationResult)
    assert isinstance(outcomes[1], InsufficientBalance)
    assert isinstance(outcomes[2], OperationResult)
    types = {a.key.type for a in funded.reader.all_accounts()}
    assert AccountType.MARGIN not in types
    assert _database_balances(funded)[("p1", "trade")] == START[("p1", "trade")] + 7


def test_atomic_requests_are_all_or_nothing(funded):
    writer = GroupCommitWriter(funded.uow, TickingClock())
    with pytest.raises(BatchError) as refused:
        writer([_transfer("g1", "1"), _transfer("g2", OVERDRAFT)], True)
    assert refused.value.index == 1
    assert _entry_count(funded) == len(START)
    results = writer([_transfer("g1", "1"), _transfer("g2", "2")], True)
    assert [r.id for r in results] == ["g1", "g2"]
    assert _entry_count(funded) == len(START) + 4


def test_the_writer_reports_each_batch_size(funded):
    sizes: list[int] = []
    writer = GroupCommitWriter(funded.uow, TickingClock(), on_batch=sizes.append)
    writer([_transfer("s1", "1"), _transfer("s2", "1")], False)
    writer([_transfer("s3", "1")], False)
    assert sizes == [2, 1]


def test_a_queued_operation_cannot_be_cancelled_and_is_still_answered(funded):
    # An awaiting request cancelled (its client gone) tries to cancel the
    # future: the operation is committed anyway, and the batch answered.
    writer = GroupCommitWriter(funded.uow, TickingClock())
    future = writer.submit([_transfer("c1", "1")], False)
    assert not future.cancel()
    [outcome] = future.result(timeout=60)
    assert isinstance(outcome, OperationResult)
    [again] = writer([_transfer("c2", "1")], False)
    assert isinstance(again, OperationResult)


# -- two writer processes on the same hot accounts (PostgreSQL) --------------

PROCESSES = 2
PROCESS_THREADS = 12
PROCESS_OPS = 12


def _writer_process(url: str, index: int, results: Any) -> None:
    """One server-like process: its own writer, PROCESS_THREADS callers."""
    container = make_container(url)  # the wall clock, as both servers' are
    writer = GroupCommitWriter(container.uow, container.clock, max_wait=0.002)
    try:

        def work(thread: int) -> list[tuple[dict[str, Any], Any]]:
            rng = random.Random(index * 1000 + thread)
            done = []
            for n in range(PROCESS_OPS):
                payload = _random_transfer(rng, f"w{index}-{thread}-{n}")
                try:
                    [outcome] = writer([payload], False)
                except Exception as exc:  # reported to the test
                    outcome = exc
                kind = (
                    outcome.entry_ids
                    if isinstance(outcome, OperationResult)
                    else type(outcome).__name__
                )
                done.append((payload, kind))
            return done

        outcomes = _run_threads(PROCESS_THREADS, work)
        results.put((index, outcomes, writer.batches, writer.fallbacks))
    finally:
        container.close()


@pytest.mark.postgres
def test_two_writer_processes_on_hot_accounts(postgres_url):
    container = make_container(postgres_url)
    fund(container)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=_writer_process, args=(postgres_url, i, results))
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    outcomes: list[tuple[dict[str, Any], Any]] = []
    for _, done, batches, fallbacks in reports:
        assert fallbacks == 0  # no batch failed (a deadlock would)
        assert batches < len(done)
        outcomes.extend(done)
    kinds = Counter("applied" if isinstance(k, tuple) else k for _, k in outcomes)
    assert set(kinds) <= {"applied", "InsufficientBalance"}, kinds
    applied = [(p, _applied(k)) for p, k in outcomes if isinstance(k, tuple)]
    try:
        _assert_consistent(container, applied)
    finally:
        container.close()


def _applied(entry_ids: tuple[int, ...]) -> OperationResult:
    return OperationResult("", "", "transfer", tuple(entry_ids), 0)


def test_the_server_writes_through_group_commit_unless_turned_off(database_url):
    on = make_container(database_url)
    off = make_container(database_url, group_commit=False)
    try:
        assert isinstance(build_writer(on, None), GroupCommitWriter)
        assert not isinstance(build_writer(off, None), GroupCommitWriter)
    finally:
        on.close()
        off.close()


def test_kucoin_transfers_go_through_the_writer(funded):
    writer = GroupCommitWriter(funded.uow, TickingClock())
    request = TransferRequest(
        "p1", "oid-1", "USDT", "2", AccountType.MAIN, AccountType.TRADE
    )

    def transfer(r: TransferRequest) -> str:
        outcomes = writer([transfers.operation(r)], False)
        return transfers.order_of(transfers.result_of(r, outcomes))

    first, again = transfer(request), transfer(request)
    assert first == again and writer.operations == 2
    with pytest.raises(InvalidInput, match="clientOid"):  # reused, other amount
        transfer(
            TransferRequest(
                "p1", "oid-1", "USDT", "3", AccountType.MAIN, AccountType.TRADE
            )
        )
    assert _database_balances(funded)[("p1", "trade")] == START[("p1", "trade")] + 2


class _Sink:
    """Records, at each publish, the changes and the entries then committed."""

    def __init__(self, container: Container, fail: bool = False) -> None:
        self._container = container
        self.fail = fail
        self.published: list[tuple[int, int]] = []  # (changes, entries seen)

    def publish(self, changes: Sequence[BalanceChange]) -> None:
        self.published.append((len(changes), _entry_count(self._container)))
        if self.fail:
            raise RuntimeError("the stream is down")


def test_balance_changes_are_published_after_the_commit(funded):
    sink = _Sink(funded)
    writer = GroupCommitWriter(funded.uow, TickingClock(), sink)
    writer([_transfer("p1", "1"), _transfer("p2", OVERDRAFT)], False)
    assert sink.published == [(2, len(START) + 2)]  # the refused one: none


def test_a_failing_stream_fails_no_operation(funded):
    writer = GroupCommitWriter(funded.uow, TickingClock(), _Sink(funded, fail=True))
    [result] = writer([_transfer("q1", "1")], False)
    assert isinstance(result, OperationResult) and not result.replayed
    assert writer.fallbacks == 0
