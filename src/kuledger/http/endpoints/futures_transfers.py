"""The deprecated futures-host transfers between the contract account and
main/trade: POST /api/v3/transfer-out, POST /api/v1/transfer-in, and GET
/api/v1/transfer-list (the transfers out). Each is the ledger's transfer,
through the same writer as the flex transfer (transfers.answered).

KuCoin takes no clientOid here, so each call is a new operation under a
generated id; and `amount` is a JSON number, read exactly from the body's text."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, NamedTuple

from kuledger.domain.accounts import AccountType
from kuledger.domain.fields import (
    BODY,
    MAX_MS,
    Fields,
    choice,
    integer,
    raw_amount,
    read,
    text,
)
from kuledger.domain.money import to_wire
from kuledger.domain.users import Permission
from kuledger.http.body import body_fields, exact_number
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import INTEGER, STRING, array, obj, query
from kuledger.http.endpoints.transfers import answered
from kuledger.http.pending import Answer
from kuledger.http.routing import Endpoint
from kuledger.services.ledger import OperationResult
from kuledger.services.transfers import (
    FuturesTransferQuery,
    TransferRequest,
    futures_transfers_out,
    order_id,
)

SPOT_SIDES = ("MAIN", "TRADE")
LIST_TYPES = ("MAIN", "TRADE", "MARGIN", "ISOLATED")
MAX_PAGE = 1_000_000_000


class TransferOutBody(NamedTuple):
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    amount: Annotated[object, raw_amount("amount")]
    target: Annotated[str, choice("recAccountType", SPOT_SIDES, required=True)]


class TransferInBody(NamedTuple):
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    amount: Annotated[object, raw_amount("amount")]
    source: Annotated[str, choice("payAccountType", SPOT_SIDES, required=True)]


class TransferListParams(NamedTuple):
    currency: Annotated[str | None, text("currency", max_len=32)] = None
    type: Annotated[str | None, choice("type", LIST_TYPES)] = None  # not a filter
    start_at: Annotated[int, integer("startAt")] = 0
    end_at: Annotated[int, integer("endAt")] = MAX_MS
    current_page: Annotated[int, integer("currentPage", low=1, high=MAX_PAGE)] = 1
    page_size: Annotated[int, integer("pageSize", low=1, high=500)] = 50


def _body(call: Call) -> Fields:
    """The body's fields, a JSON-number amount replaced by its exact text."""
    fields = body_fields(call.body, call.content_type)
    amount = fields.values.get("amount")
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        exact = exact_number(call.body, "amount")
        return Fields({**fields.values, "amount": exact}, BODY)
    return fields


def _request(
    call: Call, currency: str, amount: object, source: str, target: str
) -> TransferRequest:
    return TransferRequest(
        uid=call.uid,
        client_oid=f"futures-{uuid.uuid4().hex}",  # no clientOid: always new
        currency=currency,
        amount=amount,
        source=AccountType(source.lower()),
        target=AccountType(target.lower()),
    )


def transfer_out(call: Call) -> Answer[dict[str, Any]]:
    body = read(TransferOutBody, _body(call))
    request = _request(call, body.currency, body.amount, "contract", body.target)

    def answer(result: OperationResult) -> dict[str, Any]:
        apply_id = order_id(result.created_at, result.entry_ids[0])
        return {
            "applyId": apply_id,
            "bizNo": apply_id,
            "payAccountType": "CONTRACT",
            "payTag": "DEFAULT",
            "remark": "",
            "recAccountType": body.target,
            "recTag": "DEFAULT",
            "recRemark": "",
            "recSystem": "KUCOIN",
            "status": "SUCCESS",  # applied at once, never PROCESSING
            "currency": body.currency,
            "amount": to_wire(Decimal(str(request.amount))),
            "fee": "0",
            "sn": result.entry_ids[0],
            "reason": "",
            "createdAt": result.created_at,
            "updatedAt": result.created_at,
        }

    return answered(call, request, answer)


def transfer_in(call: Call) -> Answer[None]:
    body = read(TransferInBody, _body(call))
    request = _request(call, body.currency, body.amount, body.source, "contract")
    return answered(call, request, lambda _result: None)  # KuCoin answers null


def transfer_list(call: Call) -> dict[str, Any]:
    p = read(TransferListParams, call.query)
    page = futures_transfers_out(
        call.services.reader,
        FuturesTransferQuery(
            uid=call.uid,
            currency=p.currency,
            start_at=p.start_at,
            end_at=p.end_at,
            current_page=p.current_page,
            page_size=p.page_size,
        ),
    )
    return {
        "currentPage": page.current_page,
        "pageSize": page.page_size,
        "totalNum": page.total_num,
        "totalPage": page.total_page,
        "items": [
            {
                "applyId": order_id(row.created_at, row.id),
                "currency": row.currency,
                "recRemark": "",
                "recSystem": "KUCOIN",
                "status": "SUCCESS",
                "amount": row.amount,
                "reason": "",
                "offset": row.id,
                "createdAt": row.created_at,
                "remark": "",
            }
            for row in page.rows
        ],
    }


TRANSFER_OUT = obj(
    applyId=STRING,
    bizNo=STRING,
    payAccountType=STRING,
    payTag=STRING,
    remark=STRING,
    recAccountType=STRING,
    recTag=STRING,
    recRemark=STRING,
    recSystem=STRING,
    status=STRING,
    currency=STRING,
    amount=STRING,
    fee=STRING,
    sn=INTEGER,
    reason=STRING,
    createdAt=INTEGER,
    updatedAt=INTEGER,
)
MS = {"type": "integer", "minimum": 0, "maximum": MAX_MS}

ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v3/transfer-out",
        transfer_out,
        "Futures Account Transfer Out",
        permission=Permission.FUTURES,
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470303",
        response=TRANSFER_OUT,
    ),
    Endpoint(
        "POST",
        "/api/v1/transfer-in",
        transfer_in,
        "Futures Account Transfer In",
        permission=Permission.FUTURES,
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470304",
        response={"type": "null"},
    ),
    Endpoint(
        "GET",
        "/api/v1/transfer-list",
        transfer_list,
        "Get Futures Account Transfer Out Ledger",
        pool="Management",
        weight=20,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470307",
        params=(
            query("currency", STRING, "currency code"),
            query(
                "type",
                {"type": "string", "enum": list(LIST_TYPES)},
                "receiving account type (accepted, not a filter)",
            ),
            query("startAt", MS, "start time, ms (default: unbounded)"),
            query("endAt", MS, "end time, ms (default: unbounded)"),
            query(
                "currentPage",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                "page, default 1",
            ),
            query(
                "pageSize",
                {"type": "integer", "minimum": 1, "maximum": 500},
                "items per page, default 50",
            ),
        ),
        response=obj(
            currentPage=INTEGER,
            pageSize=INTEGER,
            totalNum=INTEGER,
            totalPage=INTEGER,
            items=array(
                obj(
                    applyId=STRING,
                    currency=STRING,
                    recRemark=STRING,
                    recSystem=STRING,
                    status=STRING,
                    amount=STRING,
                    reason=STRING,
                    offset=INTEGER,
                    createdAt=INTEGER,
                    remark=STRING,
                )
            ),
        ),
    ),
)
