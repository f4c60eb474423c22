"""Every endpoint kuledger serves, collected from the modules beside this one."""

from __future__ import annotations

from kuledger.http.endpoints import accounts, ledgers, market
from kuledger.http.routing import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    *ledgers.ENDPOINTS,
    *accounts.ENDPOINTS,
    *market.ENDPOINTS,
)
