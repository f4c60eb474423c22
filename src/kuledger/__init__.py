"""kuledger: an auditable account ledger that speaks KuCoin's REST API."""

__version__ = "0.1.0"
