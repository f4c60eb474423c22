"""POST /api/v2/accounts/sub-transfer: the older master <-> sub-account
transfer, the same ledger operation (sub_transfer) as a flex transfer of type
PARENT_TO_SUB or SUB_TO_PARENT."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from kuledger.domain.accounts import AccountType
from kuledger.domain.fields import choice, raw_amount, read, text
from kuledger.domain.users import Permission
from kuledger.http.body import body_fields
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import STRING, obj
from kuledger.http.endpoints.subaccounts import kucoin_page
from kuledger.http.endpoints.transfers import ordered
from kuledger.http.pending import Answer
from kuledger.http.routing import Endpoint
from kuledger.services.transfers import TransferRequest

MASTER_TYPES = ("MAIN", "TRADE", "MARGIN", "CONTRACT", "OPTION")
SUB_TYPES = ("MAIN", "TRADE", "MARGIN", "CONTRACT")


class SubTransferBody(NamedTuple):
    client_oid: Annotated[str, text("clientOid", required=True)]
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    amount: Annotated[object, raw_amount("amount")]
    direction: Annotated[str, choice("direction", ("IN", "OUT"), required=True)]
    sub_uid: Annotated[str, text("subUserId", required=True, max_len=64)]
    account_type: Annotated[str, choice("accountType", MASTER_TYPES)] = "MAIN"
    sub_account_type: Annotated[str, choice("subAccountType", SUB_TYPES)] = "MAIN"


def sub_transfer(call: Call) -> Answer[dict[str, str]]:
    """OUT: master -> sub; IN: sub -> master. Each side's own account type."""
    body = read(SubTransferBody, body_fields(call.body, call.content_type))
    master = AccountType(body.account_type.lower())
    sub = AccountType(body.sub_account_type.lower())
    out = body.direction == "OUT"
    request = TransferRequest(
        uid=call.uid,
        client_oid=body.client_oid,
        currency=body.currency,
        amount=body.amount,
        source=master if out else sub,
        target=sub if out else master,
        kind="PARENT_TO_SUB" if out else "SUB_TO_PARENT",
        from_uid=None if out else body.sub_uid,
        to_uid=body.sub_uid if out else None,
    )
    return ordered(call, request)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v2/accounts/sub-transfer",
        sub_transfer,
        "Sub-account Transfer",
        permission=Permission.SPOT,
        pool="Management",
        weight=30,
        kucoin_doc=kucoin_page(3470301),
        response=obj(orderId=STRING),
    ),
)
