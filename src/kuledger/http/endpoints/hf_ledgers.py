"""The HF ledgers: trade_hf (spot) and margin_v2 / isolated_v2 (margin), with
`lastId` cursors and the 3 x 24 h window (clamped, as KuCoin does)."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from kuledger.domain import biztypes
from kuledger.domain.accounts import Book
from kuledger.domain.fields import MAX_MS, choice, codes, integer, read
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import INTEGER, STRING, array, obj, query
from kuledger.http.routing import Endpoint
from kuledger.services.ports import LedgerRow
from kuledger.services.queries import MAX_HF_LIMIT, CursorLedgerQuery, cursor_ledger

MARGIN_HF_FILTERS = (
    "TRANSFER",
    "MARGIN_EXCHANGE",
    "ISOLATED_EXCHANGE",
    "LIQUIDATION",
    "ASSERT_RETURN",
)
MAX_ID = 2**63 - 1


class HfLedgerParams(NamedTuple):
    currencies: Annotated[tuple[str, ...], codes("currency")] = ()
    direction: Annotated[str | None, choice("direction", ("in", "out"))] = None
    last_id: Annotated[int | None, integer("lastId", low=0, high=MAX_ID)] = None
    limit: Annotated[int, integer("limit", low=1, high=MAX_HF_LIMIT)] = 100
    start_at: Annotated[int | None, integer("startAt")] = None
    end_at: Annotated[int | None, integer("endAt")] = None


class SpotHfFilter(NamedTuple):
    biz_type: Annotated[str | None, choice("bizType", biztypes.HF_FILTERS)] = None


class MarginHfFilter(NamedTuple):
    biz_type: Annotated[str | None, choice("bizType", MARGIN_HF_FILTERS)] = None


def _query(call: Call, book: Book, biz_codes: tuple[str, ...]) -> CursorLedgerQuery:
    p = read(HfLedgerParams, call.query)
    return CursorLedgerQuery(
        uid=call.uid,
        book=book,
        currencies=p.currencies,
        direction=p.direction,
        biz_codes=biz_codes,
        last_id=p.last_id,
        limit=p.limit,
        start_at=p.start_at,
        end_at=p.end_at,
    )


def get_spot_hf_ledger(call: Call) -> list[dict[str, Any]]:
    biz = read(SpotHfFilter, call.query).biz_type
    biz_codes = biztypes.codes_for_hf_filter(biz) if biz else ()
    reader, now = call.services.reader, call.services.clock()
    rows = cursor_ledger(reader, _query(call, Book.HF, biz_codes), now)
    return [_item(row, numeric=False) for row in rows]


def get_margin_hf_ledger(call: Call) -> list[dict[str, Any]]:
    biz = read(MarginHfFilter, call.query).biz_type
    biz_codes = (biz,) if biz else ()
    reader, now = call.services.reader, call.services.clock()
    rows = cursor_ledger(reader, _query(call, Book.MARGIN_HF, biz_codes), now)
    return [_item(row, numeric=True) for row in rows]


def _item(row: LedgerRow, *, numeric: bool) -> dict[str, Any]:
    """An HF ledger item. The spot HF ledger sends id and createdAt as strings,
    the margin HF ledger as numbers (kucoin-clients.md; KuCoin's OpenAPI)."""
    return {
        "id": row.id if numeric else str(row.id),
        "currency": row.currency,
        "amount": row.amount,
        "fee": row.fee,
        "tax": "0",
        "balance": row.balance,
        "accountType": row.account_type.upper(),
        "bizType": row.biz_code,
        "direction": row.direction,
        "createdAt": row.created_at if numeric else str(row.created_at),
        "context": row.context,
    }


def _params(filters: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    return (
        query("currency", STRING, "currencies, comma-separated, at most 10"),
        query("direction", {"type": "string", "enum": ["in", "out"]}, "in or out"),
        query("bizType", {"type": "string", "enum": list(filters)}, "business type"),
        query(
            "lastId",
            {"type": "integer", "minimum": 0},
            "return entries older than this id (the previous page's last)",
        ),
        query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_HF_LIMIT},
            "entries per page, default 100",
        ),
        query(
            "startAt",
            {"type": "integer", "minimum": 0, "maximum": MAX_MS},
            "start time, ms; the range is clamped to 3 x 24 h",
        ),
        query(
            "endAt",
            {"type": "integer", "minimum": 0, "maximum": MAX_MS},
            "end time, ms",
        ),
    )


def _item_schema(
    id_type: dict[str, Any], created_type: dict[str, Any]
) -> dict[str, Any]:
    return obj(
        id=id_type,
        currency=STRING,
        amount=STRING,
        fee=STRING,
        tax=STRING,
        balance=STRING,
        accountType=STRING,
        bizType=STRING,
        direction=STRING,
        createdAt=created_type,
        context=STRING,
    )


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/hf/accounts/ledgers",
        get_spot_hf_ledger,
        "Get Account Ledgers - Trade_hf",
        pool="Spot",
        weight=2,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470122",
        params=_params(biztypes.HF_FILTERS),
        response=array(_item_schema(STRING, STRING)),
        inline=True,
    ),
    Endpoint(
        "GET",
        "/api/v3/hf/margin/account/ledgers",
        get_margin_hf_ledger,
        "Get Account Ledgers - Margin_hf",
        pool="Spot",
        weight=2,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470123",
        params=_params(MARGIN_HF_FILTERS),
        response=array(_item_schema(INTEGER, INTEGER)),
        inline=True,
    ),
)
