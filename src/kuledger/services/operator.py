"""The operator API's use cases beyond the ledger's own: applying operations
one by one or all-or-nothing (the one write seam), an operation's status and
entries, users page by page, balances now or at a time, and the verify status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, Protocol

from kuledger.domain.accounts import Account
from kuledger.domain.errors import InvalidInput, LedgerError
from kuledger.domain.users import User
from kuledger.services import ledger
from kuledger.services.ledger import OperationResult
from kuledger.services.ports import Clock, EventSink, StoredOperation, UnitOfWorkFactory

Outcome = OperationResult | LedgerError
# Apply payloads: atomic, all in one transaction or none (BatchError); else
# each on its own, its outcome a result or the error that refused it. The
# operator endpoints call only this, so a batching writer (group commit)
# can take the place of `direct_writer` without touching them.
Writer = Callable[[Sequence[object], bool], list[Outcome]]
# Run just before the payloads are applied: raising refuses them all, and
# the caller's future raises that error (a revoked operator token, checked
# once a batch instead of once a request; http/operator/auth.py).
Check = Callable[[], None]


def batching(write: Writer) -> bool:
    """Whether `write` queues (GroupCommitWriter): submit() never blocks."""
    return getattr(write, "submit", None) is not None


def submit(
    write: Writer,
    payloads: Sequence[object],
    atomic: bool,
    check: Check | None = None,
) -> Future[list[Outcome]]:
    """Start applying the payloads. A batching writer (one with `submit`, as
    GroupCommitWriter) queues them: an async caller then awaits the future
    on its event loop, holding no thread while the batch forms. Any other
    writer applies them now, and the future is already resolved. `check`,
    if given, runs first (in the writer's thread, before its batch)."""
    queue = getattr(write, "submit", None)
    if queue is not None:
        queued: Future[list[Outcome]] = queue(payloads, atomic, check)
        return queued
    done: Future[list[Outcome]] = Future()
    try:
        if check is not None:
            check()
        done.set_result(write(payloads, atomic))
    except Exception as exc:
        done.set_exception(exc)
    return done


def direct_writer(
    uow_factory: UnitOfWorkFactory, clock: Clock, events: EventSink | None = None
) -> Writer:
    """A Writer over services.ledger: one transaction per operation (or one
    for an atomic batch)."""

    def write(payloads: Sequence[object], atomic: bool) -> list[Outcome]:
        if atomic:
            return list(ledger.apply_batch(uow_factory, payloads, clock, events))
        outcomes: list[Outcome] = []
        for payload in payloads:
            try:
                outcomes.append(ledger.apply(uow_factory, payload, clock, events))
            except LedgerError as exc:
                outcomes.append(exc)
        return outcomes

    return write


class EntryRow(NamedTuple):
    """An entry as the operator API shows it: amounts as decimal text."""

    id: int
    account_id: str
    account_type: str
    currency: str
    amount: str
    fee: str
    balance: str
    direction: str
    biz_code: str
    created_at: int
    context: str
    seq: int


@dataclass(frozen=True, slots=True)
class BalanceAt:
    """An account's balance after its last entry at or before a time."""

    account: Account
    balance: Decimal
    seq: int  # of that entry (0: none yet)
    entry_at: int | None


@dataclass(frozen=True, slots=True)
class VerifyStatus:
    """What the verify checkpoints say. Only a clean `kuledger verify` stores
    them, so accounts checkpointed were clean as of `last_verified_at`."""

    last_verified_at: int | None
    accounts: int
    checkpointed: int
    behind: int  # with entries after their checkpoint, or without one


class OperatorQueries(Protocol):
    def operation(self, uid: str, op_id: str) -> StoredOperation | None: ...
    def entries(self, ids: Sequence[int], created_at: int) -> list[EntryRow]: ...
    def users(self, after: str | None, limit: int) -> list[User]: ...
    def accounts(self, uid: str) -> list[Account]: ...
    def last_entry_at_or_before(
        self, account_id: str, at: int
    ) -> tuple[Decimal, int, int] | None:
        """(balance, seq, created_at) of the account's last entry <= at."""
        ...

    def verify_status(self) -> VerifyStatus: ...


def operation_status(
    queries: OperatorQueries, uid: str, op_id: str
) -> tuple[OperationResult, list[EntryRow]] | None:
    stored = queries.operation(uid, op_id)
    if stored is None:
        return None
    result = OperationResult.from_json(stored.result, replayed=False)
    return result, queries.entries(result.entry_ids, result.created_at)


def balances(queries: OperatorQueries, uid: str, at: int | None) -> list[BalanceAt]:
    """Every account of `uid`: as it is now, or as it was at `at` (from the
    post-balance of its last entry then: one index seek per account)."""
    found = []
    for account in queries.accounts(uid):
        if at is None:
            found.append(
                BalanceAt(account, account.balance, account.seq, account.last_entry_at)
            )
            continue
        last = queries.last_entry_at_or_before(account.id, at)
        if last is None:
            if account.base_seq > 0:  # its oldest entries were deleted
                raise InvalidInput(
                    "at",
                    f"at={at} is before the retained history of account {account.id}",
                )
            found.append(BalanceAt(account, Decimal(0), 0, None))
        else:
            balance, seq, entry_at = last
            found.append(BalanceAt(account, balance, seq, entry_at))
    return found
