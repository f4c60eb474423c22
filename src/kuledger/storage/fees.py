"""SqlFeeStore: the fee_rates table. Reads go through the read side's
connections; a write is one short transaction of its own."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine

from kuledger.domain.money import to_wire
from kuledger.services.fees import FeeRate, FeeRow, Market
from kuledger.storage import schema
from kuledger.storage.connections import ReadConnections
from kuledger.storage.dialect import dialect_for


class SqlFeeStore:
    def __init__(self, engine: Engine, connections: ReadConnections) -> None:
        self._engine = engine
        self._db = connections
        self._ph = dialect_for(engine.dialect.name).ph

    def rows(self, uid: str, market: Market) -> list[FeeRow]:
        ph = self._ph
        found = self._db.rows(
            "SELECT symbol, maker_rate, taker_rate, updated_at FROM fee_rates "
            f"WHERE uid = {ph} AND market = {ph} ORDER BY symbol",
            (uid, market.value),
        )
        return [
            FeeRow(uid, market, symbol, FeeRate(Decimal(maker), Decimal(taker)), at)
            for symbol, maker, taker, at in found
        ]

    def put(self, row: FeeRow) -> None:
        t = schema.fee_rates
        key = (t.c.uid == row.uid, t.c.market == row.market.value)
        with self._engine.begin() as conn:
            conn.execute(t.delete().where(*key, t.c.symbol == row.symbol))
            conn.execute(
                t.insert().values(
                    uid=row.uid,
                    market=row.market.value,
                    symbol=row.symbol,
                    maker_rate=to_wire(row.rate.maker),
                    taker_rate=to_wire(row.rate.taker),
                    updated_at=row.updated_at,
                )
            )

    def delete(self, uid: str, market: Market, symbol: str) -> bool:
        t = schema.fee_rates
        with self._engine.begin() as conn:
            done = conn.execute(
                t.delete().where(
                    t.c.uid == uid, t.c.market == market.value, t.c.symbol == symbol
                )
            )
        return done.rowcount > 0
