"""The default currency catalogue, seeded into every new database."""

from __future__ import annotations

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
