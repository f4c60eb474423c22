"""Transfers requested over the API, mapped onto ledger operations.

`clientOid` is the idempotency key: the operation id is derived from it, so a
replay with the same body returns the original orderId and writes nothing, and
a reuse with a different body is refused (IdempotencyConflict)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from kuledger.domain.accounts import AccountKey, AccountType, Book
from kuledger.domain.errors import IdempotencyConflict, InvalidInput, LedgerError
from kuledger.domain.money import ZERO
from kuledger.domain.operations import MAX_ID_LENGTH
from kuledger.services import ledger
from kuledger.services.ledger import OperationResult
from kuledger.services.operator import Outcome
from kuledger.services.ports import (
    Clock,
    EventSink,
    LedgerFilter,
    LedgerReader,
    Seek,
    UnitOfWorkFactory,
)
from kuledger.services.queries import Page, canonical_amounts

KINDS = ("INTERNAL", "PARENT_TO_SUB", "SUB_TO_PARENT")


@dataclass(frozen=True, slots=True)
class TransferRequest:
    uid: str  # the caller
    client_oid: str
    currency: str
    amount: object  # validated by the operation: a plain decimal string
    source: AccountType
    target: AccountType
    kind: str = "INTERNAL"
    from_uid: str | None = None  # SUB_TO_PARENT: the sub-account
    to_uid: str | None = None  # PARENT_TO_SUB: the sub-account


def order_id(created_at: int, first_entry_id: int) -> str:
    """A 24-hex orderId shaped like KuCoin's (seconds, then a counter), derived
    from the transfer's time and first entry, so a replay returns the same one."""
    return f"{created_at // 1000:08x}{first_entry_id:016x}"


def applied(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    request: TransferRequest,
    events: EventSink | None = None,
) -> OperationResult:
    """Apply the transfer (or replay it) in a transaction of its own."""
    try:
        return ledger.apply(uow_factory, operation(request), clock, events)
    except IdempotencyConflict:
        raise _reused(request) from None


def order_of(result: OperationResult) -> str:
    """The orderId the API answers for an applied (or replayed) transfer."""
    return order_id(result.created_at, result.entry_ids[0])


def result_of(request: TransferRequest, outcomes: Sequence[Outcome]) -> OperationResult:
    """The transfer's one outcome, as a Writer answered it, or the error that
    refused it (raised)."""
    [outcome] = outcomes
    if isinstance(outcome, IdempotencyConflict):
        raise _reused(request) from None
    if isinstance(outcome, LedgerError):
        raise outcome
    return outcome


def _reused(request: TransferRequest) -> InvalidInput:
    # Name the API's field, not the ledger's operation id.
    return InvalidInput(
        "clientOid",
        f"clientOid {request.client_oid!r} was already used for a different transfer",
    )


def operation_id(client_oid: str) -> str:
    """The ledger operation id of a clientOid: `transfer:<clientOid>`, or, for a
    clientOid too long for that (KuCoin allows 128 characters), its SHA-256
    under a prefix no short form can have."""
    short = f"transfer:{client_oid}"
    if len(short) <= MAX_ID_LENGTH:
        return short
    return "transfer-sha256:" + hashlib.sha256(client_oid.encode()).hexdigest()


def operation(r: TransferRequest) -> dict[str, object]:
    """The ledger operation a transfer request is (refused if malformed)."""
    common = {
        "uid": r.uid,
        "id": operation_id(r.client_oid),
        "currency": r.currency,
        "amount": r.amount,
        "from": r.source.value,
        "to": r.target.value,
    }
    if r.kind == "INTERNAL":
        if r.source is r.target:
            raise InvalidInput(
                "toAccountType", "from and to must be different accounts"
            )
        return {"op": "transfer", **common}
    sub_uid = r.to_uid if r.kind == "PARENT_TO_SUB" else r.from_uid
    field = "toUserId" if r.kind == "PARENT_TO_SUB" else "fromUserId"
    if not sub_uid:
        raise InvalidInput(field, f"{field} is required for {r.kind}")
    direction = "to_sub" if r.kind == "PARENT_TO_SUB" else "to_parent"
    return {"op": "sub_transfer", **common, "sub_uid": sub_uid, "direction": direction}


@dataclass(frozen=True, slots=True)
class Transferable:
    currency: str
    balance: Decimal
    available: Decimal
    holds: Decimal

    @property
    def transferable(self) -> Decimal:
        return self.available


def transferable(
    reader: LedgerReader, uid: str, currency: str, account_type: AccountType
) -> Transferable:
    """What may leave one account now: its available amount."""
    if currency not in reader.currencies():
        raise InvalidInput("currency", f"currency not in the given range: {currency!r}")
    key = AccountKey(uid, account_type, currency)
    for account in reader.accounts(uid, currency, account_type):
        if account.key == key:
            return Transferable(
                currency, account.balance, account.available, account.holds
            )
    return Transferable(currency, ZERO, ZERO, ZERO)


@dataclass(frozen=True, slots=True)
class FuturesTransferQuery:
    """GET /api/v1/transfer-list parameters, already type-checked."""

    uid: str
    currency: str | None
    start_at: int
    end_at: int
    current_page: int
    page_size: int


def futures_transfers_out(reader: LedgerReader, query: FuturesTransferQuery) -> Page:
    """One page, newest first, of the transfers out of the contract account:
    its TRANSFER entries going out (each applied at once, so SUCCESS)."""
    if query.start_at > query.end_at:
        raise InvalidInput("startAt", "startAt must not be later than endAt")
    selection = LedgerFilter(
        uid=query.uid,
        book=Book.SPOT,  # contract transfer legs show in the spot book
        start_at=query.start_at,
        end_at=query.end_at,
        currencies=(query.currency,) if query.currency else (),
        direction="out",
        biz_codes=("TRANSFER",),
        account_types=(AccountType.CONTRACT,),
    )
    skip = Seek(None, (query.current_page - 1) * query.page_size)
    _marker, total, rows = reader.counted_entry_rows(
        selection, skip, query.page_size, None
    )
    assert total is not None  # (counted: no marker was given)
    return Page(
        query.current_page,
        query.page_size,
        total,
        -(-total // query.page_size),
        canonical_amounts(rows),
    )
