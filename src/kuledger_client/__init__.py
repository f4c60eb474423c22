"""kuledger_client: a typed SDK for KuCoin-compatible ledger APIs."""

from kuledger_client.signing import auth_headers, sign, sign_passphrase

__all__ = ["auth_headers", "sign", "sign_passphrase"]
