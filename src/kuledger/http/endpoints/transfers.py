"""Transfers: universal (flex) transfer, inner transfer, and transfer quotas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NamedTuple, TypeVar

from kuledger.domain.accounts import AccountType
from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import choice, raw_amount, read, text
from kuledger.domain.money import to_wire
from kuledger.domain.users import Permission
from kuledger.http.body import body_fields
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import STRING, obj, query
from kuledger.http.pending import Answer, Pending
from kuledger.http.routing import Endpoint
from kuledger.services import operator, transfers
from kuledger.services.ledger import OperationResult
from kuledger.services.transfers import KINDS, TransferRequest

T = TypeVar("T")  # what a transfer endpoint answers
UNIVERSAL_TYPES = (
    "MAIN",
    "TRADE",
    "CONTRACT",
    "MARGIN",
    "ISOLATED",
    "MARGIN_V2",
    "ISOLATED_V2",
    "OPTION",
    "TRADE_HF",
)
INNER_FROM = (
    "main",
    "trade",
    "trade_hf",
    "margin",
    "isolated",
    "margin_v2",
    "isolated_v2",
    "option",
)
INNER_TO = (*INNER_FROM, "contract")
QUOTA_TYPES = (
    "MAIN",
    "TRADE",
    "MARGIN",
    "ISOLATED",
    "OPTION",
    "MARGIN_V2",
    "ISOLATED_V2",
    "TRADE_HF",
    "CONTRACT",
)


class FlexTransferBody(NamedTuple):
    client_oid: Annotated[str, text("clientOid", required=True)]
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    amount: Annotated[object, raw_amount("amount")]
    source: Annotated[str, choice("fromAccountType", UNIVERSAL_TYPES, required=True)]
    target: Annotated[str, choice("toAccountType", UNIVERSAL_TYPES, required=True)]
    kind: Annotated[str, choice("type", KINDS, required=True)]
    from_uid: Annotated[str | None, text("fromUserId", max_len=64)] = None
    to_uid: Annotated[str | None, text("toUserId", max_len=64)] = None


class InnerTransferBody(NamedTuple):
    client_oid: Annotated[str, text("clientOid", required=True)]
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    amount: Annotated[object, raw_amount("amount")]
    source: Annotated[str, choice("from", INNER_FROM, required=True)]
    target: Annotated[str, choice("to", INNER_TO, required=True)]


class QuotaParams(NamedTuple):
    currency: Annotated[str, text("currency", required=True)]
    type: Annotated[str, choice("type", QUOTA_TYPES, required=True)]


def flex_transfer(call: Call) -> Answer[dict[str, str]]:
    body = read(FlexTransferBody, body_fields(call.body, call.content_type))
    request = TransferRequest(
        uid=call.uid,
        client_oid=body.client_oid,
        currency=body.currency,
        amount=body.amount,
        source=AccountType(body.source.lower()),
        target=AccountType(body.target.lower()),
        kind=body.kind,
        from_uid=body.from_uid,
        to_uid=body.to_uid,
    )
    if request.kind == "INTERNAL" and request.source is request.target:
        raise InvalidInput(
            "toAccountType", "toAccountType must differ from fromAccountType"
        )
    return ordered(call, request)


def inner_transfer(call: Call) -> Answer[dict[str, str]]:
    body = read(InnerTransferBody, body_fields(call.body, call.content_type))
    request = TransferRequest(
        uid=call.uid,
        client_oid=body.client_oid,
        currency=body.currency,
        amount=body.amount,
        source=AccountType(body.source),
        target=AccountType(body.target),
    )
    if request.source is request.target:
        raise InvalidInput("to", "to must be a different account from `from`")
    return ordered(call, request)


def ordered(call: Call, request: TransferRequest) -> Answer[dict[str, str]]:
    """Apply the transfer and answer its orderId (see `answered`)."""
    return answered(call, request, _order)


def answered(
    call: Call, request: TransferRequest, answer: Callable[[OperationResult], T]
) -> Answer[T]:
    """Apply the transfer and answer `answer(result)`: through the server's
    writer, awaited on the event loop (so concurrent transfers share a group
    commit), or in a transaction of its own."""
    s = call.services
    if s.write is None:
        return answer(transfers.applied(s.uow, s.clock, request, s.events))
    future = operator.submit(s.write, [transfers.operation(request)], False)
    return Pending(
        future, lambda done: answer(transfers.result_of(request, done.result()))
    )


def _order(result: OperationResult) -> dict[str, str]:
    return {"orderId": transfers.order_of(result)}


def get_transfer_quotas(call: Call) -> dict[str, str]:
    p = read(QuotaParams, call.query)
    quota = transfers.transferable(
        call.services.reader, call.uid, p.currency, AccountType(p.type.lower())
    )
    return {
        "currency": quota.currency,
        "balance": to_wire(quota.balance),
        "available": to_wire(quota.available),
        "holds": to_wire(quota.holds),
        "transferable": to_wire(quota.transferable),
    }


ORDER = obj(orderId=STRING)

ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v3/accounts/universal-transfer",
        flex_transfer,
        "Flex Transfer",
        permission=Permission.FLEX_TRANSFERS,
        pool="Management",
        weight=4,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470147",
        response=ORDER,
    ),
    Endpoint(
        "POST",
        "/api/v2/accounts/inner-transfer",
        inner_transfer,
        "Internal Transfer",
        permission=Permission.SPOT,
        pool="Management",
        weight=10,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470302",
        response=ORDER,
    ),
    Endpoint(
        "GET",
        "/api/v1/accounts/transferable",
        get_transfer_quotas,
        "Get Transfer Quotas",
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470148",
        params=(
            query("currency", STRING, "currency code (required)"),
            query(
                "type",
                {"type": "string", "enum": list(QUOTA_TYPES)},
                "account type (required)",
            ),
            query("tag", STRING, "isolated margin symbol (ignored)"),
        ),
        response=obj(
            currency=STRING,
            balance=STRING,
            available=STRING,
            holds=STRING,
            transferable=STRING,
        ),
    ),
)
