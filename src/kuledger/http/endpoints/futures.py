"""GET /api/v1/transaction-history: the futures (contract account) ledger.
Amounts are JSON numbers here, as on KuCoin's futures host; they are written
from the exact decimals (orjson.Fragment), never through float."""

from __future__ import annotations

import json
from typing import Annotated, Any, NamedTuple

import orjson

from kuledger.domain import biztypes
from kuledger.domain.fields import MAX_MS, choice, integer, read, text
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import (
    BOOLEAN,
    INTEGER,
    STRING,
    array,
    obj,
    query,
)
from kuledger.http.routing import Endpoint
from kuledger.services.queries import FuturesLedgerQuery, futures_ledger

NUMBER = {"type": "number"}
MAX_COUNT = 1000
_TRANSFERS = ("TRANSFER", "SUB_TRANSFER")
# type filter -> (bizType codes, direction)
TYPES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "RealisedPNL": (("REALISED_PNL",), None),
    "Deposit": (("DEPOSIT",), None),
    "Withdrawal": (("WITHDRAW",), None),
    "TransferIn": (_TRANSFERS, "in"),
    "TransferOut": (_TRANSFERS, "out"),
}
_ALIASES = {
    "RealizedPNL": "RealisedPNL",
    "Transferin": "TransferIn",
    "Transferout": "TransferOut",
}


def futures_type(code: str, direction: str) -> str:
    for name, (codes, wanted) in TYPES.items():
        if code in codes and wanted in (None, direction):
            return name
    return biztypes.BY_CODE[code].display if code in biztypes.BY_CODE else code


def _remark(code: str, context: str) -> str:
    try:
        symbol = json.loads(context).get("symbol") if context else None
    except (ValueError, AttributeError):
        symbol = None
    if isinstance(symbol, str):
        return symbol
    return biztypes.BY_CODE[code].display if code in biztypes.BY_CODE else code


def _number(text: str, negative: bool = False) -> orjson.Fragment:
    return orjson.Fragment(("-" + text if negative and text != "0" else text).encode())


class FuturesLedgerParams(NamedTuple):
    type: Annotated[str | None, choice("type", tuple(TYPES), aliases=_ALIASES)] = None
    forward: Annotated[str | None, choice("forward", ("true", "false"))] = None
    currency: Annotated[str | None, text("currency")] = None
    offset: Annotated[int | None, integer("offset", low=0, high=2**63 - 1)] = None
    max_count: Annotated[int, integer("maxCount", low=1, high=MAX_COUNT)] = 50
    start_at: Annotated[int | None, integer("startAt")] = None
    end_at: Annotated[int | None, integer("endAt")] = None


def get_futures_ledger(call: Call) -> dict[str, Any]:
    p = read(FuturesLedgerParams, call.query)
    codes, direction = TYPES[p.type] if p.type else ((), None)
    query_ = FuturesLedgerQuery(
        uid=call.uid,
        currency=p.currency,
        biz_codes=codes,
        direction=direction,
        offset=p.offset,
        forward=p.forward != "false",
        max_count=p.max_count,
        start_at=p.start_at,
        end_at=p.end_at,
    )
    rows, has_more = futures_ledger(call.services.reader, query_)
    return {
        "dataList": [
            {
                "time": row.created_at,
                "type": futures_type(row.biz_code, row.direction),
                "amount": _number(row.amount, negative=row.direction == "out"),
                "fee": _number(row.fee),
                "accountEquity": _number(row.balance),
                "status": "Completed",
                "remark": _remark(row.biz_code, row.context),
                "offset": row.id,
                "currency": row.currency,
            }
            for row in rows
        ],
        "hasMore": has_more,
    }


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/transaction-history",
        get_futures_ledger,
        "Get Account Ledgers - Futures",
        pool="Futures",
        weight=2,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470124",
        params=(
            query("currency", STRING, "currency, e.g. USDT"),
            query("type", {"type": "string", "enum": list(TYPES)}, "entry type"),
            query("offset", INTEGER, "the previous page's last `offset`"),
            query("forward", BOOLEAN, "true (default): newest first"),
            query(
                "maxCount",
                {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
                "entries per page, default 50",
            ),
            query(
                "startAt",
                {"type": "integer", "minimum": 0, "maximum": MAX_MS},
                "start time, ms",
            ),
            query(
                "endAt",
                {"type": "integer", "minimum": 0, "maximum": MAX_MS},
                "end time, ms",
            ),
        ),
        response=obj(
            dataList=array(
                obj(
                    time=INTEGER,
                    type=STRING,
                    amount=NUMBER,
                    fee=NUMBER,
                    accountEquity=NUMBER,
                    status=STRING,
                    remark=STRING,
                    offset=INTEGER,
                    currency=STRING,
                )
            ),
            hasMore=BOOLEAN,
        ),
    ),
)
