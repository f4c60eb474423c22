"""The operator's side of deposits and withdrawals: assign deposit addresses,
create deposits, and advance deposits and withdrawals through their statuses
(each move one transaction with its ledger operation, services/funding.py)."""

from __future__ import annotations

from typing import Any

from kuledger.domain.accounts import AccountType
from kuledger.domain.errors import InvalidInput
from kuledger.domain.fields import Fields
from kuledger.domain.funding import (
    DEPOSIT_STATUSES,
    WITHDRAWAL_STATUSES,
    DepositAddress,
    DepositRecord,
    FundingNotFound,
    WithdrawalRecord,
)
from kuledger.domain.money import to_wire
from kuledger.http.endpoints._json_schema import BOOLEAN, INTEGER, STRING, obj, path
from kuledger.http.errors import NotFound
from kuledger.http.operator.endpoints import (
    PREFIX,
    OpCall,
    OperatorEndpoint,
    _bool,
    nullable,
)
from kuledger.services import funding
from kuledger.services.funding import Funding, NewDeposit
from kuledger.services.operator_tokens import Scope

TO = ("main", "trade")


def _funding(call: OpCall) -> Funding:
    s = call.services
    return Funding(s.uow, s.clock, s.events)


def _to(f: Fields) -> AccountType:
    return AccountType(f.choice("to", TO) or "main")


def _address(a: DepositAddress) -> dict[str, Any]:
    return {
        "uid": a.uid,
        "currency": a.currency,
        "chain": a.chain,
        "address": a.address,
        "memo": a.memo,
        "to": a.to.value,
        "createdAt": a.created_at,
    }


def _record(r: DepositRecord | WithdrawalRecord) -> dict[str, Any]:
    """What a deposit and a withdrawal show alike (RECORD)."""
    return {
        "id": r.id,
        "uid": r.uid,
        "currency": r.currency,
        "chain": r.chain,
        "address": r.address,
        "amount": to_wire(r.amount),
        "walletTxId": r.wallet_tx_id,
        "status": r.status,
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
    }


def _deposit(r: DepositRecord) -> dict[str, Any]:
    return {**_record(r), "to": r.to.value, "operationId": r.op_id}


def _withdrawal(r: WithdrawalRecord) -> dict[str, Any]:
    return {
        **_record(r),
        "fee": to_wire(r.fee),
        "failureReason": r.failure_reason,
        "holdOperationId": r.hold_op_id,
        "operationId": r.final_op_id,
    }


def assign_address(call: OpCall) -> dict[str, Any]:
    f = call.fields({"currency", "chain", "address", "memo", "to"})
    made = funding.add_address(
        _funding(call),
        call.path_params["uid"],
        f.text("currency", required=True, max_len=32),
        f.text("chain", max_len=32),
        _to(f),
        address=f.text("address", max_len=256),
        memo=f.text("memo", max_len=256) or "",
        replace_existing=True,
    )
    return _address(made)


def create_deposit(call: OpCall) -> dict[str, Any]:
    f = call.fields(
        {
            "id",
            "uid",
            "currency",
            "amount",
            "chain",
            "address",
            "memo",
            "to",
            "walletTxId",
            "isInner",
            "remark",
            "status",
        }
    )
    new = NewDeposit(
        uid=f.text("uid", required=True),
        currency=f.text("currency", required=True, max_len=32),
        amount=f.raw_amount("amount"),
        chain=f.text("chain", max_len=32),
        address=f.text("address", max_len=256),
        memo=f.text("memo", max_len=256) or "",
        to=_to(f),
        wallet_tx_id=f.text("walletTxId", max_len=256) or "",
        is_inner=_bool(f, "isInner", False),
        remark=f.text("remark", max_len=256) or "",
        status=f.choice("status", DEPOSIT_STATUSES) or "PROCESSING",
        id=f.text("id", max_len=64),
    )
    call.ops.append(f"{new.uid}/deposit:{new.id or '(new)'}")
    return _deposit(funding.create_deposit(_funding(call), new))


def advance_deposit(call: OpCall) -> dict[str, Any]:
    f = call.fields({"status", "walletTxId"})
    record_id = call.path_params["id"]
    call.ops.append(f"deposit:{record_id}")
    try:
        done = funding.advance_deposit(
            _funding(call),
            record_id,
            f.choice("status", DEPOSIT_STATUSES, required=True),
            f.text("walletTxId", max_len=256),
        )
    except FundingNotFound as exc:
        raise NotFound(exc.message) from None
    return _deposit(done)


def advance_withdrawal(call: OpCall) -> dict[str, Any]:
    f = call.fields({"status", "walletTxId", "reason"})
    record_id = call.path_params["id"]
    call.ops.append(f"withdrawal:{record_id}")
    status = f.choice("status", WITHDRAWAL_STATUSES, required=True)
    reason = f.text("reason", max_len=256) or ""
    if reason and status != "FAILURE":
        raise InvalidInput("reason", "a reason goes only with FAILURE")
    try:
        done = funding.advance_withdrawal(
            _funding(call),
            record_id,
            status,
            wallet_tx_id=f.text("walletTxId", max_len=256),
            reason=reason,
        )
    except FundingNotFound as exc:
        raise NotFound(exc.message) from None
    return _withdrawal(done)


ADDRESS = obj(
    uid=STRING,
    currency=STRING,
    chain=STRING,
    address=STRING,
    memo=STRING,
    to=STRING,
    createdAt=INTEGER,
)
RECORD = {  # _record's properties
    "id": STRING,
    "uid": STRING,
    "currency": STRING,
    "chain": STRING,
    "address": STRING,
    "amount": STRING,
    "walletTxId": STRING,
    "createdAt": INTEGER,
    "updatedAt": INTEGER,
}
DEPOSIT = obj(
    **RECORD,
    status={"type": "string", "enum": list(DEPOSIT_STATUSES)},
    to=STRING,
    operationId=nullable(STRING),
)
WITHDRAWAL = obj(
    **RECORD,
    status={"type": "string", "enum": list(WITHDRAWAL_STATUSES)},
    fee=STRING,
    failureReason=STRING,
    holdOperationId=STRING,
    operationId=nullable(STRING),
)
TO_SCHEMA = {"type": "string", "enum": list(TO)}
ID = path("id", "the deposit's or withdrawal's id")


def _body(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


ENDPOINTS: tuple[OperatorEndpoint, ...] = (
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/users/{{uid}}/deposit-addresses",
        assign_address,
        "Assign a deposit address (or generate one) for a currency and chain",
        Scope.ADMIN,
        ADDRESS,
        body=_body(
            ["currency"],
            currency=STRING,
            chain=STRING,
            address=STRING,
            memo=STRING,
            to=TO_SCHEMA,
        ),
        params=(path("uid", "the user's uid"),),
    ),
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/deposits",
        create_deposit,
        "Record a deposit (its entry is written when it succeeds)",
        Scope.POST,
        DEPOSIT,
        body=_body(
            ["uid", "currency", "amount"],
            id={"type": "string", "maxLength": 64},
            uid=STRING,
            currency=STRING,
            amount=STRING,
            chain=STRING,
            address=STRING,
            memo=STRING,
            to=TO_SCHEMA,
            walletTxId=STRING,
            isInner=BOOLEAN,
            remark=STRING,
            status={"type": "string", "enum": list(DEPOSIT_STATUSES)},
        ),
    ),
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/deposits/{{id}}:advance",
        advance_deposit,
        "Move a PROCESSING deposit to SUCCESS (writes its entry) or FAILURE",
        Scope.POST,
        DEPOSIT,
        body=_body(
            ["status"],
            status={"type": "string", "enum": ["SUCCESS", "FAILURE"]},
            walletTxId=STRING,
        ),
        params=(ID,),
    ),
    OperatorEndpoint(
        "POST",
        f"{PREFIX}/withdrawals/{{id}}:advance",
        advance_withdrawal,
        "Move a withdrawal on: SUCCESS writes its entries, FAILURE releases its hold",
        Scope.POST,
        WITHDRAWAL,
        body=_body(
            ["status"],
            status={"type": "string", "enum": list(WITHDRAWAL_STATUSES)},
            walletTxId=STRING,
            reason=STRING,
        ),
        params=(ID,),
    ),
)
