"""The operator's fee endpoints: a user's fee rates, read and set
(PUT /operator/v1/users/{uid}/fees). The table rows are in endpoints.py;
this module holds their handlers and schemas."""

from __future__ import annotations

from typing import Any, Protocol

from kuledger.domain.fields import Fields
from kuledger.domain.money import to_wire
from kuledger.http.endpoints._json_schema import INTEGER, STRING, obj
from kuledger.http.errors import NotFound
from kuledger.services import fees
from kuledger.services.fees import ALL_SYMBOLS, DEFAULTS, FeeRow, FeeStore, Market
from kuledger.services.ports import Clock, LedgerReader


class _Services(Protocol):
    @property
    def reader(self) -> LedgerReader: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def fees(self) -> FeeStore | None: ...


class OpCall(Protocol):
    """What these handlers use of endpoints.OpCall (which imports this module)."""

    @property
    def services(self) -> _Services: ...
    @property
    def path_params(self) -> dict[str, str]: ...
    @property
    def query(self) -> Fields: ...
    def fields(self, allowed: set[str]) -> Fields: ...


_MARKETS = tuple(m.value for m in Market)


def _store(call: OpCall) -> FeeStore:
    store = call.services.fees
    if store is None:
        raise NotFound("fee rates are not kept by this server")
    return store


def rate_row(row: FeeRow) -> dict[str, Any]:
    return {
        "market": row.market.value,
        "symbol": row.symbol or None,
        "makerFeeRate": to_wire(row.rate.maker),
        "takerFeeRate": to_wire(row.rate.taker),
        "updatedAt": row.updated_at,
    }


def _user_uid(call: OpCall) -> str:
    uid = call.path_params["uid"]
    if call.services.reader.user(uid) is None:
        raise NotFound(f"no user {uid!r}")
    return uid


def rates_of(store: FeeStore, uid: str) -> dict[str, Any]:
    """The defaults and every rate set for `uid` (also `kuledger fees show`)."""
    return {
        "uid": uid,
        "defaults": {
            m.value: {
                "makerFeeRate": to_wire(r.maker),
                "takerFeeRate": to_wire(r.taker),
            }
            for m, r in DEFAULTS.items()
        },
        "rates": [rate_row(r) for r in fees.listed(store, uid)],
    }


def get_fees(call: OpCall) -> dict[str, Any]:
    return rates_of(_store(call), _user_uid(call))


def put_fee(call: OpCall) -> dict[str, Any]:
    uid = _user_uid(call)
    f = call.fields({"market", "symbol", "makerFeeRate", "takerFeeRate"})
    market = Market(f.choice("market", _MARKETS, required=True))
    symbol = f.text("symbol", max_len=64) or ALL_SYMBOLS
    store = _store(call)
    row = fees.set_rate(
        store,
        call.services.reader,
        call.services.clock,
        uid=uid,
        market=market,
        maker=f.raw_amount("makerFeeRate"),
        taker=f.raw_amount("takerFeeRate"),
        symbol=symbol,
    )
    return rate_row(row)


def delete_fee(call: OpCall) -> dict[str, Any]:
    uid = _user_uid(call)
    q = call.query
    market = Market(q.choice("market", _MARKETS, required=True))
    symbol = q.text("symbol") or ALL_SYMBOLS
    if not fees.reset_rate(_store(call), uid, market, symbol):
        raise NotFound(f"no {market.value} rate set for {uid!r} {symbol!r}")
    return {"uid": uid, "market": market.value, "symbol": symbol or None}


_RATE = obj(makerFeeRate=STRING, takerFeeRate=STRING)
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
FEE_ROW = obj(
    market=STRING,
    symbol=NULLABLE_STRING,
    makerFeeRate=STRING,
    takerFeeRate=STRING,
    updatedAt=INTEGER,
)
FEES = obj(
    uid=STRING,
    defaults=obj(spot=_RATE, futures=_RATE),
    rates={"type": "array", "items": FEE_ROW},
)
FEE_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "market": {"type": "string", "enum": list(_MARKETS)},
        "symbol": STRING,
        "makerFeeRate": STRING,
        "takerFeeRate": STRING,
    },
    "required": ["market", "makerFeeRate", "takerFeeRate"],
    "additionalProperties": False,
}
DELETED = obj(uid=STRING, market=STRING, symbol=NULLABLE_STRING)
