"""The web ledger explorer (docs/explorer.md), on the operator listener."""

from kuledger.http.explorer.app import create_explorer_app

__all__ = ["create_explorer_app"]
