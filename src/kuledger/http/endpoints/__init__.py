"""Every endpoint kuledger serves, collected from the modules beside this one."""

from __future__ import annotations

from kuledger.http.endpoints import (
    account_info,
    accounts,
    bullet,
    catalogue,
    deposits,
    fees,
    futures,
    futures_transfers,
    hf_ledgers,
    ledgers,
    margin_accounts,
    market,
    sub_api_keys,
    sub_transfers,
    subaccounts,
    transfers,
    withdrawals,
)
from kuledger.http.routing import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    *ledgers.ENDPOINTS,
    *accounts.ENDPOINTS,
    *market.ENDPOINTS,
    *catalogue.ENDPOINTS,
    *hf_ledgers.ENDPOINTS,
    *futures.ENDPOINTS,
    *transfers.ENDPOINTS,
    *futures_transfers.ENDPOINTS,
    *bullet.ENDPOINTS,
    *account_info.ENDPOINTS,
    *margin_accounts.ENDPOINTS,
    *fees.ENDPOINTS,
    *subaccounts.ENDPOINTS,
    *sub_api_keys.ENDPOINTS,
    *sub_transfers.ENDPOINTS,
    *deposits.ENDPOINTS,
    *withdrawals.ENDPOINTS,
)
