"""Deposits: addresses (add and get: v3, and the deprecated v1/v2 that real
clients still call) and deposit history (v1, and the old hist-deposits)."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from kuledger.domain.accounts import AccountType
from kuledger.domain.fields import MAX_MS, choice, integer, read, text
from kuledger.domain.funding import (
    DEPOSIT_STATUSES,
    DepositAddress,
    DepositRecord,
    WithdrawalRecord,
)
from kuledger.domain.money import to_wire
from kuledger.http.body import body_fields
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
from kuledger.services import funding
from kuledger.services.funding import Funding, FundingQueries, HistoryFilter

TO = ("main", "trade")
_TO_ALIASES = {"MAIN": "main", "TRADE": "trade"}
MAX_PAGE = 1_000_000_000


class AddressBody(NamedTuple):
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    chain: Annotated[str | None, text("chain", max_len=32)] = None
    to: Annotated[str, choice("to", TO, aliases=_TO_ALIASES)] = "main"
    amount: Annotated[str | None, text("amount", max_len=64)] = None  # Lightning


class AddressParams(NamedTuple):
    currency: Annotated[str, text("currency", required=True, max_len=32)]
    chain: Annotated[str | None, text("chain", max_len=32)] = None
    amount: Annotated[str | None, text("amount", max_len=64)] = None


class HistoryParams(NamedTuple):
    # KuCoin requires currency; kuledger lists every currency without it
    # (ccxt's fetchDeposits() with no code sends none).
    currency: Annotated[str | None, text("currency", max_len=32)] = None
    status: Annotated[str | None, choice("status", DEPOSIT_STATUSES)] = None
    start_at: Annotated[int | None, integer("startAt", high=MAX_MS)] = None
    end_at: Annotated[int | None, integer("endAt", high=MAX_MS)] = None
    current_page: Annotated[int, integer("currentPage", low=1, high=MAX_PAGE)] = 1
    page_size: Annotated[int, integer("pageSize", low=1, high=500)] = 50


def _funding(call: Call) -> Funding:
    s = call.services
    return Funding(s.uow, s.clock, s.events)


def queries(call: Call) -> FundingQueries:
    found = call.services.funding
    assert found is not None, "the composition root gives the funding queries"
    return found


def _add(call: Call) -> DepositAddress:
    body = read(AddressBody, body_fields(call.body, call.content_type))
    return funding.add_address(
        _funding(call), call.uid, body.currency, body.chain, AccountType(body.to)
    )


def _v3(a: DepositAddress, upper_to: bool) -> dict[str, Any]:
    return {
        "address": a.address,
        "memo": a.memo,
        "chainId": a.chain,
        "to": a.to.value.upper() if upper_to else a.to.value,
        "expirationDate": 0,
        "currency": a.currency,
        "chainName": funding.chain_name(a.currency, a.chain),
    }


def _v1(a: DepositAddress) -> dict[str, Any]:
    return {
        "address": a.address,
        "memo": a.memo,
        "chain": funding.chain_name(a.currency, a.chain),
        "chainId": a.chain,
        "to": a.to.value.upper(),
        "currency": a.currency,
        "contractAddress": "",
    }


def add_address_v3(call: Call) -> dict[str, Any]:
    return _v3(_add(call), upper_to=False)


def add_address_v1(call: Call) -> dict[str, Any]:
    found = _v1(_add(call))
    del found["contractAddress"]
    return found


def _addresses(call: Call) -> list[DepositAddress]:
    p = read(AddressParams, call.query)
    chain = None if p.chain is None else p.chain.lower()
    return queries(call).addresses(call.uid, p.currency, chain)


def get_addresses_v3(call: Call) -> list[dict[str, Any]]:
    return [{**_v3(a, upper_to=True), "contractAddress": ""} for a in _addresses(call)]


def get_addresses_v2(call: Call) -> list[dict[str, Any]]:
    return [_v1(a) for a in _addresses(call)]


def get_address_v1(call: Call) -> dict[str, Any] | None:
    """One address (the requested chain's, else the first); None if none."""
    found = _addresses(call)
    return _v1(found[0]) if found else None


def history_filter(call: Call, p: Any) -> HistoryFilter:
    """The filter of deposit or withdrawal HistoryParams."""
    offset, limit = funding.page_of(p.current_page, p.page_size)
    return HistoryFilter(
        call.uid, p.currency, p.status, p.start_at, p.end_at, offset, limit
    )


def page(f: HistoryFilter, total: int, items: list[Any]) -> dict[str, Any]:
    return {
        "currentPage": f.offset // f.limit + 1,
        "pageSize": f.limit,
        "totalNum": total,
        "totalPage": (total + f.limit - 1) // f.limit,
        "items": items,
    }


def history_item(r: DepositRecord | WithdrawalRecord) -> dict[str, Any]:
    """What a deposit's and a withdrawal's history item share."""
    return {
        "currency": r.currency,
        "chain": r.chain,
        "status": r.status,
        "address": r.address,
        "memo": r.memo,
        "isInner": r.is_inner,
        "amount": to_wire(r.amount),
        "fee": to_wire(r.fee),
        "walletTxId": r.wallet_tx_id,
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
        "remark": r.remark,
    }


def _deposit(r: DepositRecord) -> dict[str, Any]:
    return {**history_item(r), "arrears": False}


def get_deposits(call: Call) -> dict[str, Any]:
    f = history_filter(call, read(HistoryParams, call.query))
    total, records = queries(call).deposits(f)
    return page(f, total, [_deposit(r) for r in records])


def old_params(p: Any) -> Any:
    """The old history routes take startAt and endAt in seconds."""
    return p._replace(
        start_at=None if p.start_at is None else p.start_at * 1000,
        end_at=None if p.end_at is None else p.end_at * 1000 + 999,
    )


def get_deposits_old(call: Call) -> dict[str, Any]:
    f = history_filter(call, old_params(read(HistoryParams, call.query)))
    total, records = queries(call).deposits(f)
    return page(
        f,
        total,
        [
            {
                "currency": r.currency,
                "createAt": r.created_at // 1000,  # seconds, as KuCoin had it
                "amount": to_wire(r.amount),
                "walletTxId": r.wallet_tx_id,
                "isInner": r.is_inner,
                "status": r.status,
            }
            for r in records
        ],
    )


CURRENCY = query("currency", STRING, "currency code (required)")
CHAIN_PARAM = query("chain", STRING, "chainId, e.g. eth (default: the currency's)")


def history_params(statuses: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """The OpenAPI parameters of a deposit or withdrawal history."""
    return (
        query("currency", STRING, "currency code"),
        query("status", {"type": "string", "enum": list(statuses)}, "status"),
        query("startAt", INTEGER, "from this time (ms), inclusive"),
        query("endAt", INTEGER, "to this time (ms), inclusive"),
        query("currentPage", INTEGER, "page number (1)"),
        query("pageSize", INTEGER, "10 to 500 (50)"),
    )


HISTORY_PARAMS = history_params(DEPOSIT_STATUSES)
ADDRESS_V3 = obj(
    address=STRING,
    memo=STRING,
    chainId=STRING,
    to=STRING,
    expirationDate=INTEGER,
    currency=STRING,
    chainName=STRING,
)
ADDRESS_V1 = obj(
    address=STRING,
    memo=STRING,
    chain=STRING,
    chainId=STRING,
    to=STRING,
    currency=STRING,
    contractAddress=STRING,
)


def paged(item: dict[str, Any]) -> dict[str, Any]:
    return obj(
        currentPage=INTEGER,
        pageSize=INTEGER,
        totalNum=INTEGER,
        totalPage=INTEGER,
        items=array(item),
    )


HISTORY_ITEM = obj(  # history_item's shape
    currency=STRING,
    chain=STRING,
    status=STRING,
    address=STRING,
    memo=STRING,
    isInner=BOOLEAN,
    amount=STRING,
    fee=STRING,
    walletTxId=STRING,
    createdAt=INTEGER,
    updatedAt=INTEGER,
    remark=STRING,
)
DEPOSIT = obj(**HISTORY_ITEM["properties"], arrears=BOOLEAN)
DOC = "https://www.kucoin.com/docs-new/api-"

ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v3/deposit-address/create",
        add_address_v3,
        "Add Deposit Address (V3)",
        pool="Management",
        weight=20,
        kucoin_doc=DOC + "3470142",
        response=ADDRESS_V3,
    ),
    Endpoint(
        "GET",
        "/api/v3/deposit-addresses",
        get_addresses_v3,
        "Get Deposit Address (V3)",
        pool="Management",
        weight=5,
        kucoin_doc=DOC + "3470140",
        params=(CURRENCY, CHAIN_PARAM, query("amount", STRING, "Lightning (ignored)")),
        response=array(obj(**ADDRESS_V3["properties"], contractAddress=STRING)),
    ),
    Endpoint(
        "GET",
        "/api/v1/deposits",
        get_deposits,
        "Get Deposit History",
        pool="Management",
        weight=5,
        kucoin_doc=DOC + "3470141",
        params=HISTORY_PARAMS,
        response=paged(DEPOSIT),
    ),
    Endpoint(
        "GET",
        "/api/v2/deposit-addresses",
        get_addresses_v2,
        "Get Deposit Addresses (V2), deprecated",
        pool="Management",
        weight=5,
        kucoin_doc=DOC + "3470300",
        params=(CURRENCY, CHAIN_PARAM),
        response=array(ADDRESS_V1),
    ),
    Endpoint(
        "GET",
        "/api/v1/deposit-addresses",
        get_address_v1,
        "Get Deposit Addresses - V1, deprecated",
        pool="Management",
        weight=5,
        kucoin_doc=DOC + "3470305",
        params=(CURRENCY, CHAIN_PARAM),
        response={"anyOf": [ADDRESS_V1, {"type": "null"}]},
    ),
    Endpoint(
        "POST",
        "/api/v1/deposit-addresses",
        add_address_v1,
        "Add Deposit Address - V1, deprecated",
        pool="Management",
        weight=20,
        kucoin_doc=DOC + "3470309",
        response=obj(
            **{
                k: v
                for k, v in ADDRESS_V1["properties"].items()
                if k != "contractAddress"
            }
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/hist-deposits",
        get_deposits_old,
        "Get Deposit History - Old, deprecated",
        pool="Management",
        weight=5,
        kucoin_doc=DOC + "3470306",
        params=HISTORY_PARAMS,
        response=paged(
            obj(
                currency=STRING,
                createAt=INTEGER,
                amount=STRING,
                walletTxId=STRING,
                isInner=BOOLEAN,
                status=STRING,
            )
        ),
    ),
)
