"""Transfers: universal (flex) transfer, inner transfer, and transfer quotas."""

from __future__ import annotations

from kuledger.domain.accounts import AccountType
from kuledger.domain.money import to_wire
from kuledger.domain.users import Permission
from kuledger.http.body import JsonBody
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import STRING, obj, query
from kuledger.http.params import InvalidParameter
from kuledger.http.routing import Endpoint
from kuledger.services import transfers
from kuledger.services.transfers import KINDS, TransferRequest

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


def _body(call: Call) -> JsonBody:
    return JsonBody(call.body, call.content_type)


def flex_transfer(call: Call) -> dict[str, str]:
    body = _body(call)
    request = TransferRequest(
        uid=call.uid,
        client_oid=body.text("clientOid") or "",
        currency=body.text("currency", max_len=32) or "",
        amount=body.amount("amount"),
        source=AccountType(body.choice("fromAccountType", UNIVERSAL_TYPES).lower()),
        target=AccountType(body.choice("toAccountType", UNIVERSAL_TYPES).lower()),
        kind=body.choice("type", KINDS),
        from_uid=body.text("fromUserId", required=False, max_len=64),
        to_uid=body.text("toUserId", required=False, max_len=64),
    )
    if request.kind == "INTERNAL" and request.source is request.target:
        raise InvalidParameter(
            "toAccountType", "toAccountType must differ from fromAccountType"
        )
    return {
        "orderId": transfers.transfer(
            call.services.uow, call.services.clock, request, call.services.events
        )
    }


def inner_transfer(call: Call) -> dict[str, str]:
    body = _body(call)
    request = TransferRequest(
        uid=call.uid,
        client_oid=body.text("clientOid") or "",
        currency=body.text("currency", max_len=32) or "",
        amount=body.amount("amount"),
        source=AccountType(body.choice("from", INNER_FROM)),
        target=AccountType(body.choice("to", INNER_TO)),
    )
    if request.source is request.target:
        raise InvalidParameter("to", "to must be a different account from `from`")
    return {
        "orderId": transfers.transfer(
            call.services.uow, call.services.clock, request, call.services.events
        )
    }


def get_transfer_quotas(call: Call) -> dict[str, str]:
    q = call.query
    currency = q.text("currency")
    if currency is None:
        raise InvalidParameter("currency", "currency is required")
    type_name = q.choice("type", QUOTA_TYPES)
    if type_name is None:
        raise InvalidParameter("type", "type is required")
    quota = transfers.transferable(
        call.services.reader, call.uid, currency, AccountType(type_name.lower())
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
