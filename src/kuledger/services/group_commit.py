"""Group commit: concurrent operations coalesced into one transaction per batch.

`GroupCommitWriter` is a `services.operator.Writer`: callers (request threads)
queue their payloads and wait; one writer thread per database per process
takes what has queued (up to `max_ops` operations, waiting up to `max_wait`
seconds for more) and applies it with `apply_each` in one transaction. Each
operation is still validated and applied or refused on its own, in arrival
order, and a caller is answered only after COMMIT returned, so an answered
operation is durable. SQLite's own lock serializes the writers of several
processes; on PostgreSQL each batch locks its accounts in the one global
order (`LedgerStore.lock_accounts`), so batches of different processes never
deadlock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from kuledger.domain.accounts import Account, AccountKey
from kuledger.domain.entries import Entry
from kuledger.domain.errors import IdempotencyConflict, LedgerError
from kuledger.domain.events import BalanceChange
from kuledger.domain.operations import Operation, Plan, parse_operation
from kuledger.services import ledger
from kuledger.services.ledger import OperationResult
from kuledger.services.operator import Check, Outcome
from kuledger.services.ports import (
    Clock,
    EventSink,
    StoredOperation,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


def apply_each(
    uow_factory: UnitOfWorkFactory,
    payloads: Sequence[object],
    clock: Clock,
    events: EventSink | None = None,
) -> list[Outcome]:
    """Apply the payloads in order, each on its own, in one transaction: each
    outcome is the operation's result or the error that refused it, and a
    refused operation writes nothing (not even the empty accounts it named).

    Planned in memory against the batch's locked accounts: an operation sees
    the ones before it, and is refused without touching the others."""
    outcomes: dict[int, Outcome] = {}
    todo = list(range(len(payloads)))
    while True:
        changes: list[BalanceChange] | None = [] if events is not None else None
        with uow_factory() as uow:
            found, clean = _attempt(uow, [payloads[i] for i in todo], clock, changes)
            if clean:
                uow.commit()
        settled = {todo[i]: outcome for i, outcome in enumerate(found)}
        if clean:
            outcomes.update(settled)
            break
        # Refused operations locked (so created) accounts no accepted one
        # writes: roll back and apply only the accepted ones (and replays)
        # again, which locks no more than they name. Each round drops one
        # operation at least, so this ends.
        rejected = {i for i, o in settled.items() if isinstance(o, LedgerError)}
        outcomes.update((i, settled[i]) for i in rejected)
        todo = [i for i in todo if i not in rejected]
    if events is not None and changes:
        try:  # committed: a failing sink must not fail (or redo) the batch
            events.publish(changes)
        except Exception:
            log.exception(
                "group commit: %d balance changes not published", len(changes)
            )
    return [outcomes[i] for i in range(len(payloads))]


def _attempt(
    uow: UnitOfWork,
    payloads: Sequence[object],
    clock: Clock,
    changes: list[BalanceChange] | None,
) -> tuple[list[Outcome], bool]:
    """Plan and save the payloads inside `uow` (not committed); their outcomes,
    and False if a refused one left an empty account locked that no accepted
    one names (then nothing was saved)."""
    outcomes: list[Outcome | None] = [None] * len(payloads)
    currencies = uow.ledger.currencies()
    parsed: list[tuple[int, Operation, Plan]] = []
    for index, payload in enumerate(ledger.hf_defaults(uow, payloads)):
        try:
            operation = parse_operation(payload, currencies)
            parsed.append((index, operation, operation.plan()))
        except LedgerError as exc:
            outcomes[index] = exc
    users = uow.users.get(
        ledger.uids_named([p[1] for p in parsed], [p[2] for p in parsed])
    )
    valid: list[tuple[int, Operation, Plan]] = []
    for index, operation, plan in parsed:
        try:
            ledger.check_users(operation, plan, users)
            valid.append((index, operation, plan))
        except LedgerError as exc:
            outcomes[index] = exc
    # The store locks in its own (deadlock-free) order; the operation records
    # are looked up under those locks, so a concurrent replay is seen.
    accounts = uow.ledger.lock_accounts(
        {key for _, _, plan in valid for key in plan.keys}
    )
    known = uow.ledger.find_operations((op.uid, op.id) for _, op, _ in valid)
    fresh = sum(
        len(plan.postings) for _, op, plan in valid if (op.uid, op.id) not in known
    )
    # Ids of refused operations stay unused: ids may have gaps (PostgreSQL's
    # sequence has them too); `verify` checks each account's seq, not ids.
    ids = list(uow.ledger.allocate_entry_ids(fresh))
    used = 0
    named: set[AccountKey] = set()  # by accepted operations and replays
    touched: dict[AccountKey, Account] = {}
    entries: list[Entry] = []
    stored: list[StoredOperation] = []
    now = clock()
    for index, operation, plan in valid:
        ref = (operation.uid, operation.id)
        fingerprint = operation.fingerprint()
        previous = known.get(ref)
        if previous is not None:
            if previous.fingerprint != fingerprint:
                outcomes[index] = IdempotencyConflict(*ref)
            else:
                outcomes[index] = OperationResult.from_json(
                    previous.result, replayed=True
                )
                named.update(plan.keys)
            continue
        own = tuple(ids[used : used + len(plan.postings)])
        try:  # leaves `accounts` and `changes` as they were if it refuses
            result, record, new_entries = ledger.post(
                operation, plan, fingerprint, own, now, accounts, changes
            )
        except LedgerError as exc:
            outcomes[index] = exc
            continue
        used += len(own)
        for key in plan.keys:
            touched[key] = accounts[key]
        named.update(plan.keys)
        entries.extend(new_entries)
        known[ref] = record
        stored.append(record)
        outcomes[index] = result
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(payloads)  # every payload has its outcome
    if any(key not in named and _empty(account) for key, account in accounts.items()):
        return done, False
    uow.ledger.save(touched.values(), entries, stored)
    return done, True


def _empty(account: Account) -> bool:
    """As lock_accounts creates an account (or one never written)."""
    return account.seq == 0 and not account.balance and not account.holds


@dataclass(slots=True)
class _Request:
    payloads: list[object]
    atomic: bool
    check: Check | None = None
    future: Future[list[Outcome]] = field(default_factory=Future)


class GroupCommitWriter:
    """A Writer that coalesces concurrent calls into one transaction per batch.

    `batches` and `operations` count what was committed (or attempted),
    `fallbacks` the batches that failed whole and were applied one by one;
    `on_batch`, if set, is called with each batch's operation count (for a
    metrics histogram). The writer thread starts on the first call and ends
    after `idle` seconds without work (so an idle writer holds no thread)."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        events: EventSink | None = None,
        *,
        max_ops: int = 500,
        max_wait: float = 0.001,
        idle: float = 5.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._events = events
        self.max_ops = max(1, max_ops)
        self.max_wait = max(0.0, max_wait)
        self._idle = idle
        self.on_batch = on_batch
        self.batches = 0
        self.operations = 0
        self.fallbacks = 0
        self._pending: deque[_Request] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_batch = 1  # requests in the previous batch

    def __call__(self, payloads: Sequence[object], atomic: bool) -> list[Outcome]:
        return self.submit(payloads, atomic).result()

    def submit(
        self, payloads: Sequence[object], atomic: bool, check: Check | None = None
    ) -> Future[list[Outcome]]:
        """Queue the payloads; the future resolves after their batch's commit
        (an async caller can await it with asyncio.wrap_future, holding no
        thread while it waits). `check` runs in the writer thread before the
        batch that holds them (once a batch for requests sharing it): if it
        raises, they are not applied and the future raises its error."""
        request = _Request(list(payloads), atomic, check)
        # Running from now: a queued operation is committed whatever its
        # caller does, so the future cannot be cancelled (an awaiting task
        # cancelled on a client's disconnect would otherwise cancel it, and
        # answering the batch would then raise in the writer thread).
        request.future.set_running_or_notify_cancel()
        if not request.payloads:
            request.future.set_result([])
            return request.future
        with self._ready:
            self._pending.append(request)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kuledger-group-commit", daemon=True
                )
                self._thread.start()
            self._ready.notify()
        return request.future

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._pending and not self._ready.wait_for(
                    lambda: bool(self._pending), self._idle
                ):
                    self._thread = None  # under the lock: a caller starts another
                    return
                group = self._take()
            self._last_batch = len(group)
            try:
                self._commit(group)
            except BaseException as exc:  # never leave a caller waiting
                for request in group:
                    if not request.future.done():
                        request.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    def _take(self) -> list[_Request]:
        """With the lock held: the next batch, whole requests in arrival order
        (an atomic one alone), after waiting up to max_wait for more when
        callers are concurrent (a lone caller is not made to wait)."""
        if self.max_wait and (self._last_batch > 1 or len(self._pending) > 1):
            deadline = time.monotonic() + self.max_wait
            while self._queued() < self.max_ops and not self._pending[-1].atomic:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
        first = self._pending.popleft()
        group = [first]
        if first.atomic:
            return group
        count = len(first.payloads)
        while self._pending and not self._pending[0].atomic:
            size = len(self._pending[0].payloads)
            if count + size > self.max_ops:
                break
            group.append(self._pending.popleft())
            count += size
        return group

    def _queued(self) -> int:
        return sum(len(r.payloads) for r in self._pending)

    def _checked(self, group: list[_Request]) -> list[_Request]:
        """The requests whose checks pass; the others are answered with their
        check's error. A check shared by requests (one token's) runs once."""
        failed: dict[Check, Exception] = {}
        for check in {r.check for r in group if r.check is not None}:
            try:
                check()
            except Exception as exc:
                failed[check] = exc
        if not failed:
            return group
        passed = []
        for request in group:
            if request.check in failed:
                request.future.set_exception(failed[request.check])
            else:
                passed.append(request)
        return passed

    def _commit(self, group: list[_Request]) -> None:
        group = self._checked(group)
        if not group:
            return
        size = sum(len(r.payloads) for r in group)
        self.batches += 1
        self.operations += size
        if self.on_batch is not None:
            self.on_batch(size)
        if group[0].atomic:
            [request] = group
            try:
                request.future.set_result(
                    list(
                        ledger.apply_batch(
                            self._uow, request.payloads, self._clock, self._events
                        )
                    )
                )
            except Exception as exc:
                request.future.set_exception(exc)
            return
        payloads = [p for r in group for p in r.payloads]
        try:
            outcomes = apply_each(self._uow, payloads, self._clock, self._events)
        except Exception:
            # Not an operation's refusal (a lost connection, an id another
            # process took since we looked): nothing was committed; apply
            # each request on its own, as without group commit.
            log.warning(
                "group commit: batch of %d failed, applying one by one",
                size,
                exc_info=True,
            )
            self.fallbacks += 1
            for request in group:
                self._one_by_one(request)
            return
        start = 0
        for request in group:
            end = start + len(request.payloads)
            request.future.set_result(outcomes[start:end])
            start = end

    def _one_by_one(self, request: _Request) -> None:
        outcomes: list[Outcome] = []
        try:
            for payload in request.payloads:
                try:
                    outcomes.append(
                        ledger.apply(self._uow, payload, self._clock, self._events)
                    )
                except LedgerError as exc:
                    outcomes.append(exc)
        except Exception as exc:
            request.future.set_exception(exc)
        else:
            request.future.set_result(outcomes)
