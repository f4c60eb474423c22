"""Every endpoint kuledger serves, collected from the modules beside this one."""

from __future__ import annotations

from kuledger.http.endpoints import (
    accounts,
    bullet,
    catalogue,
    deposits,
    futures,
    hf_ledgers,
    ledgers,
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
    *bullet.ENDPOINTS,
    *subaccounts.ENDPOINTS,
    *sub_api_keys.ENDPOINTS,
    *sub_transfers.ENDPOINTS,
    *deposits.ENDPOINTS,
    *withdrawals.ENDPOINTS,
)
