"""GET /api/v1/accounts/ledgers: the classic (spot/margin) ledger."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from kuledger.domain import biztypes
from kuledger.domain.fields import MAX_MS, choice, codes, integer, read, text
from kuledger.http.context import Call
from kuledger.http.endpoints._json_schema import INTEGER, STRING, array, obj, query
from kuledger.http.routing import Endpoint
from kuledger.http.wire import spot_ledger_item
from kuledger.services.queries import SpotLedgerQuery, spot_ledger

MAX_PAGE = 1_000_000_000


class LedgerParams(NamedTuple):
    currencies: Annotated[tuple[str, ...], codes("currency")] = ()
    direction: Annotated[str | None, choice("direction", ("in", "out"))] = None
    biz_type: Annotated[str | None, text("bizType")] = None
    start_at: Annotated[int | None, integer("startAt")] = None
    end_at: Annotated[int | None, integer("endAt")] = None
    current_page: Annotated[int, integer("currentPage", low=1, high=MAX_PAGE)] = 1
    page_size: Annotated[int, integer("pageSize", low=10, high=500)] = 50


def get_spot_ledger(call: Call) -> dict[str, Any]:
    p = read(LedgerParams, call.query)
    settings = call.services.settings
    query_ = SpotLedgerQuery(
        uid=call.uid,
        currencies=p.currencies,
        direction=p.direction,
        biz_type=p.biz_type,
        start_at=p.start_at,
        end_at=p.end_at,
        current_page=p.current_page,
        page_size=p.page_size,
    )
    page = spot_ledger(
        call.services.reader,
        query_,
        call.services.clock(),
        settings.retention_days,
        call.services.page_cursors,
    )
    style = settings.biz_type_style
    return {
        "currentPage": page.current_page,
        "pageSize": page.page_size,
        "totalNum": page.total_num,
        "totalPage": page.total_page,
        "items": [spot_ledger_item(row, style) for row in page.rows],
    }


SPOT_LEDGER_ITEM = obj(
    id=STRING,
    currency=STRING,
    amount=STRING,
    fee=STRING,
    balance=STRING,
    accountType=STRING,
    bizType=STRING,
    direction=STRING,
    createdAt=INTEGER,
    context=STRING,
)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/accounts/ledgers",
        get_spot_ledger,
        "Get Account Ledgers - Spot/Margin",
        pool="Management",
        weight=2,
        kucoin_doc="https://www.kucoin.com/docs-new/api-3470121",
        params=(
            query("currency", STRING, "currencies, comma-separated, at most 10"),
            query("direction", {"type": "string", "enum": ["in", "out"]}, "in or out"),
            query(
                "bizType",
                {"type": "string", "enum": sorted(biztypes.SPOT_FILTERS)},
                "business type filter (case-sensitive)",
            ),
            query(
                "startAt",
                {"type": "integer", "minimum": 0, "maximum": MAX_MS},
                "start time, ms (inclusive)",
            ),
            query(
                "endAt",
                {"type": "integer", "minimum": 0, "maximum": MAX_MS},
                "end time, ms (inclusive); at most 24 h after startAt",
            ),
            query(
                "currentPage",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                "page number, default 1",
            ),
            query(
                "pageSize",
                {"type": "integer", "minimum": 10, "maximum": 500},
                "page size, default 50",
            ),
        ),
        response=obj(
            currentPage=INTEGER,
            pageSize=INTEGER,
            totalNum=INTEGER,
            totalPage=INTEGER,
            items=array(SPOT_LEDGER_ITEM),
        ),
        inline=True,
    ),
)
