"""The default currency catalogue, seeded into every new database, and the
one chain each currency is deposited and withdrawn on."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kuledger.domain.money import Currency

DEFAULT_CURRENCIES: tuple[Currency, ...] = (
    Currency("BTC", 8, "Bitcoin"),
    Currency("ETH", 8, "Ethereum"),
    Currency("USDT", 8, "Tether"),
    Currency("USDC", 8, "USD Coin"),
    Currency("KCS", 8, "KuCoin Token"),
    Currency("SOL", 8, "Solana"),
    Currency("XRP", 6, "XRP"),
    Currency("DOGE", 8, "Dogecoin"),
    Currency("TRX", 6, "TRON"),
    Currency("ADA", 6, "Cardano"),
)

# Spot symbols served by the catalogue endpoints, as (base, quote).
DEFAULT_SYMBOLS: tuple[tuple[str, str], ...] = (
    ("BTC", "USDT"),
    ("ETH", "USDT"),
    ("ETH", "BTC"),
    ("KCS", "USDT"),
    ("SOL", "USDT"),
    ("XRP", "USDT"),
    ("DOGE", "USDT"),
    ("TRX", "USDT"),
    ("ADA", "USDT"),
    ("USDC", "USDT"),
    ("KCS", "BTC"),
    ("SOL", "USDC"),
)


@dataclass(frozen=True, slots=True)
class Chain:
    """A currency's chain (network): its chainId and chainName, as GET
    /api/v3/currencies shows them, and what a withdrawal on it costs on top
    of its amount. (KuCoin's vary by chain; kuledger has one a currency.)"""

    id: str
    name: str
    withdrawal_fee: Decimal = Decimal(0)


DEFAULT_CHAINS: dict[str, Chain] = {
    "BTC": Chain("btc", "BTC", Decimal("0.0005")),
    "ETH": Chain("eth", "ERC20", Decimal("0.002")),
    "USDT": Chain("eth", "ERC20", Decimal("1")),
    "USDC": Chain("eth", "ERC20", Decimal("1")),
    "KCS": Chain("kcc", "KCC", Decimal("0.01")),
    "SOL": Chain("sol", "SOL"),
    "XRP": Chain("xrp", "XRP"),
    "DOGE": Chain("doge", "DOGE"),
    "TRX": Chain("trx", "TRC20"),
    "ADA": Chain("ada", "ADA"),
}


def chain_of(currency: str) -> Chain:
    """The currency's chain; one not in DEFAULT_CHAINS has a free chain of
    its own name."""
    return DEFAULT_CHAINS.get(currency) or Chain(currency.lower(), currency)
