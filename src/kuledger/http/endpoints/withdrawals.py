"""Withdrawals: quotas, apply (v3, and the deprecated v1), cancel, history
(v1, and the old hist-withdrawals) and one by id."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, NamedTuple

from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import MAX_MS, Fields, Param, choice, integer, read, text
from kuledger.domain.funding import WITHDRAWAL_STATUSES, WithdrawalRecord, cancel_type
from kuledger.domain.money import to_wire
from kuledger.domain.users import Permission
from kuledger.http.body import body_fields
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    INTEGER,
    STRING,
    obj,
    path,
    query,
)
from kuledger.http.endpoints.deposits import (
    DOC,
    HISTORY_ITEM,
    _funding,
    history_filter,
    history_item,
    history_params,
    old_params,
    page,
    paged,
    queries,
)
from kuledger.http.routing import Endpoint
from kuledger.services import funding
from kuledger.services.funding import NewWithdrawal

WITHDRAW_TYPES = ("ADDRESS", "UID", "MAIL", "PHONE")
FEE_DEDUCT = ("INTERNAL", "EXTERNAL")
MAX_PAGE = 1_000_000_000


def _amount(f: Fields, name: str, _default: Any) -> object:
    """A decimal string, or a JSON number as clients send it (ccxt's withdraw()
    sends a float; KuCoin's v1 documents an integer), read by its shortest
    decimal spelling, which is the text the client formatted."""
    value = f.values.get(name)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return f.raw_amount(name)


def _flag(f: Fields, name: str, _default: Any) -> bool:
    value = f.values.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(name, f"{name} must be true or false")
    return value


class WithdrawV3Body(NamedTuple):
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    amount: Annotated[object, Param("amount", _amount)]
    to_address: Annotated[str, text("toAddress", required=True, max_len=256)]
    withdraw_type: Annotated[str, choice("withdrawType", WITHDRAW_TYPES, required=True)]
    chain: Annotated[str | None, text("chain", max_len=32)] = None
    memo: Annotated[str, text("memo", max_len=256)] = ""
    is_inner: Annotated[bool, Param("isInner", _flag)] = False
    remark: Annotated[str, text("remark", max_len=256)] = ""
    fee_deduct: Annotated[str | None, choice("feeDeductType", FEE_DEDUCT)] = None


class WithdrawV1Body(NamedTuple):
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    address: Annotated[str, text("address", required=True, max_len=256)]
    amount: Annotated[object, Param("amount", _amount)]
    chain: Annotated[str | None, text("chain", max_len=32)] = None
    memo: Annotated[str, text("memo", max_len=256)] = ""
    is_inner: Annotated[bool, Param("isInner", _flag)] = False
    remark: Annotated[str, text("remark", max_len=256)] = ""
    fee_deduct: Annotated[str | None, choice("feeDeductType", FEE_DEDUCT)] = None


class QuotaParams(NamedTuple):
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    chain: Annotated[str | None, text("chain", max_len=32)] = None


class HistoryParams(NamedTuple):
    currency: Annotated[str | None, text("currency", max_len=32)] = None
    status: Annotated[str | None, choice("status", WITHDRAWAL_STATUSES)] = None
    start_at: Annotated[int | None, integer("startAt", high=MAX_MS)] = None
    end_at: Annotated[int | None, integer("endAt", high=MAX_MS)] = None
    current_page: Annotated[int, integer("currentPage", low=1, high=MAX_PAGE)] = 1
    page_size: Annotated[int, integer("pageSize", low=1, high=500)] = 50


def get_quotas(call: Call) -> dict[str, Any]:
    p = read(QuotaParams, call.query)
    q = funding.quota(call.services.reader, call.uid, p.currency, p.chain)
    available = to_wire(q.available)
    return {
        "currency": q.currency,
        "limitBTCAmount": "1000000",
        "usedBTCAmount": "0",
        "quotaCurrency": "USDT",
        "limitQuotaCurrencyAmount": "1000000000",
        "usedQuotaCurrencyAmount": "0",
        "remainAmount": available,
        "availableAmount": available,
        "withdrawMinFee": to_wire(q.fee),
        "innerWithdrawMinFee": "0",
        "withdrawMinSize": to_wire(q.min_size),
        "isWithdrawEnabled": True,
        "precision": q.precision,
        "chain": funding.chain_name(q.currency, q.chain),
        "reason": "",
        "lockedAmount": to_wire(q.locked),
    }


def _apply(call: Call, new: NewWithdrawal) -> dict[str, str]:
    record = funding.apply_withdrawal(_funding(call), new)
    return {"withdrawalId": record.id}


def withdraw_v3(call: Call) -> dict[str, str]:
    b = read(WithdrawV3Body, body_fields(call.body, call.content_type))
    if b.withdraw_type != "ADDRESS" and not b.is_inner:
        # UID, MAIL and PHONE name a KuCoin user: always an inner withdrawal.
        b = b._replace(is_inner=True)
    return _apply(
        call,
        NewWithdrawal(
            call.uid,
            b.currency,
            b.amount,
            b.to_address,
            b.chain,
            b.memo,
            b.is_inner,
            b.remark,
            b.fee_deduct,
        ),
    )


def withdraw_v1(call: Call) -> dict[str, str]:
    b = read(WithdrawV1Body, body_fields(call.body, call.content_type))
    return _apply(
        call,
        NewWithdrawal(
            call.uid,
            b.currency,
            b.amount,
            b.address,
            b.chain,
            b.memo,
            b.is_inner,
            b.remark,
            b.fee_deduct,
        ),
    )


def cancel(call: Call) -> str:
    record_id = call.path_params["withdrawalId"]
    funding.cancel_withdrawal(_funding(call), call.uid, record_id)
    return record_id


def _item(r: WithdrawalRecord) -> dict[str, Any]:
    return {"id": r.id, **history_item(r)}


def get_withdrawals(call: Call) -> dict[str, Any]:
    f = history_filter(call, read(HistoryParams, call.query))
    total, records = queries(call).withdrawals(f)
    return page(f, total, [_item(r) for r in records])


def get_withdrawals_old(call: Call) -> dict[str, Any]:
    f = history_filter(call, old_params(read(HistoryParams, call.query)))
    total, records = queries(call).withdrawals(f)
    return page(
        f,
        total,
        [
            {
                "currency": r.currency,
                "createAt": r.created_at // 1000,  # seconds, as KuCoin had it
                "amount": to_wire(r.amount),
                "address": r.address,
                "walletTxId": r.wallet_tx_id,
                "isInner": r.is_inner,
                "status": r.status,
            }
            for r in records
        ],
    )


def get_withdrawal(call: Call) -> dict[str, Any]:
    record_id = call.path_params["withdrawalId"]
    r = queries(call).withdrawal(call.uid, record_id)
    if r is None:
        raise InvalidInput("withdrawalId", f"no withdrawal {record_id!r}")
    returned = r.status == "FAILURE"
    return {
        "id": r.id,
        "uid": int(r.uid) if r.uid.isdigit() else 0,
        "currency": r.currency,
        "chainId": r.chain,
        "chainName": funding.chain_name(r.currency, r.chain),
        "currencyName": r.currency,
        "status": r.status,
        "failureReason": r.failure_reason,
        "failureReasonMsg": r.failure_reason,
        "address": r.address,
        "memo": r.memo,
        "isInner": r.is_inner,
        "amount": to_wire(r.amount),
        "fee": to_wire(r.fee),
        "walletTxId": r.wallet_tx_id,
        "addressRemark": "",
        "remark": r.remark,
        "createdAt": r.created_at,
        "cancelType": cancel_type(r.status),
        "taxes": [],
        "taxDescription": "",
        "returnStatus": "SUCCESS" if returned else "NOT_RETURN",
        "returnAmount": to_wire(r.total) if returned else "0",
        "returnCurrency": r.currency,
    }


ID = path("withdrawalId", "the withdrawal's id")
HISTORY_PARAMS = history_params(WITHDRAWAL_STATUSES)
WITHDRAWAL_ID = obj(withdrawalId=STRING)
ITEM = obj(id=STRING, **HISTORY_ITEM["properties"])
_QUOTA_STRINGS = [
    "currency",
    "limitBTCAmount",
    "usedBTCAmount",
    "quotaCurrency",
    "limitQuotaCurrencyAmount",
    "usedQuotaCurrencyAmount",
    "remainAmount",
    "availableAmount",
    "withdrawMinFee",
    "innerWithdrawMinFee",
    "withdrawMinSize",
    "chain",
    "reason",
    "lockedAmount",
]
QUOTA = obj(
    **dict.fromkeys(_QUOTA_STRINGS, STRING),
    isWithdrawEnabled=BOOLEAN,
    precision=INTEGER,
)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/withdrawals/quotas",
        get_quotas,
        "Get Withdrawal Quotas",
        pool="Management",
        weight=20,
        kucoin_doc=DOC + "3470143",
        params=(
            query("currency", STRING, "currency code (required)"),
            query("chain", STRING, "chainId"),
        ),
        response=QUOTA,
    ),
    Endpoint(
        "POST",
        "/api/v3/withdrawals",
        withdraw_v3,
        "Withdraw (V3)",
        permission=Permission.WITHDRAWAL,
        pool="Management",
        weight=5,
        kucoin_doc=DOC + "3470146",
        response=WITHDRAWAL_ID,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/withdrawals/{withdrawalId}",
        cancel,
        "Cancel Withdrawal",
        permission=Permission.WITHDRAWAL,
        pool="Management",
        weight=20,
        kucoin_doc=DOC + "3470144",
        params=(ID,),
        response=STRING,
    ),
    Endpoint(
        "GET",
        "/api/v1/withdrawals",
        get_withdrawals,
        "Get Withdrawal History",
        pool="Management",
        weight=20,
        kucoin_doc=DOC + "3470145",
        params=HISTORY_PARAMS,
        response=paged(ITEM),
    ),
    Endpoint(
        "GET",
        "/api/v1/withdrawals/{withdrawalId}",
        get_withdrawal,
        "Get Withdrawal History By ID",
        pool="Management",
        weight=20,
        kucoin_doc=DOC + "3471890",
        params=(ID,),
        response={"type": "object"},
    ),
    Endpoint(
        "POST",
        "/api/v1/withdrawals",
        withdraw_v1,
        "Withdraw - V1, deprecated",
        permission=Permission.WITHDRAWAL,
        pool="Management",
        weight=5,
        kucoin_doc=DOC + "3470310",
        response=WITHDRAWAL_ID,
    ),
    Endpoint(
        "GET",
        "/api/v1/hist-withdrawals",
        get_withdrawals_old,
        "Get Withdrawal History - Old, deprecated",
        pool="Management",
        weight=20,
        kucoin_doc=DOC + "3470308",
        params=HISTORY_PARAMS,
        response=paged(
            obj(
                currency=STRING,
                createAt=INTEGER,
                amount=STRING,
                address=STRING,
                walletTxId=STRING,
                isInner=BOOLEAN,
                status=STRING,
            )
        ),
    ),
)
