"""kuledger fees set | show | reset"""

from __future__ import annotations

import click

from kuledger.cli.context import container, print_json, reports_errors
from kuledger.http.operator.fees import rate_row, rates_of
from kuledger.services import fees as fee_service
from kuledger.services.fees import ALL_SYMBOLS, Market

_MARKET = click.option(
    "--market",
    type=click.Choice([m.value for m in Market]),
    default=Market.SPOT.value,
    show_default=True,
    help="spot (also margin) or futures.",
)
_SYMBOL = click.option(
    "--symbol",
    default=ALL_SYMBOLS,
    help="One symbol (BTC-USDT, BTCUSDTM); default: every symbol of the market.",
)


@click.group("fees")
def fees() -> None:
    """A user's trading fee rates (GET /api/v1/base-fee, /api/v1/trade-fees)."""


@fees.command("set")
@click.argument("uid")
@_MARKET
@_SYMBOL
@click.option("--maker", required=True, help="Maker rate, e.g. 0.0008 (-0.01..0.1).")
@click.option("--taker", required=True, help="Taker rate, e.g. 0.001 (-0.01..0.1).")
@reports_errors
def set_(uid: str, market: str, symbol: str, maker: str, taker: str) -> None:
    """Set UID's maker and taker rate for a market, or for one symbol."""
    c = container()
    row = fee_service.set_rate(
        c.fees,
        c.reader,
        c.clock,
        uid=uid,
        market=Market(market),
        maker=maker,
        taker=taker,
        symbol=symbol,
    )
    print_json({"uid": row.uid, **rate_row(row)})


@fees.command("show")
@click.argument("uid")
@reports_errors
def show(uid: str) -> None:
    """Print UID's rates as JSON: the defaults and every rate set."""
    print_json(rates_of(container().fees, uid))


@fees.command("reset")
@click.argument("uid")
@_MARKET
@_SYMBOL
@reports_errors
def reset(uid: str, market: str, symbol: str) -> None:
    """Remove a rate set for UID: the market's rate or the default applies again."""
    found = fee_service.reset_rate(container().fees, uid, Market(market), symbol)
    click.echo("reset" if found else "nothing was set")
