# Generated from kuledger_client/_async/client.py by scripts/unasync.py: do not edit.
# Change the async source and run `python scripts/unasync.py`.
"""KucoinClient and AsyncKucoinClient: typed calls to any KuCoin-compatible API.

The client is written once, for asyncio, in kuledger_client/_async/client.py;
scripts/unasync.py writes the blocking twin, _sync/client.py, from it.

Method names follow KuCoin's universal SDK in snake case. Every call waits
instead of exceeding a rate-limit pool (the gw-ratelimit-* headers), and
retries 429s, 5xx replies and connection failures with exponential backoff
and jitter, signing each attempt anew.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Self, Unpack

import httpx

from kuledger_client._auth import wall_clock_ms
from kuledger_client._core import (
    DEFAULT_BASE_URL,
    ENDPOINTS,
    Amount,
    BaseClient,
    Core,
    Currencies,
    CursorPage,
    Params,
    Sleep,
    Time,
    body,
    cursor_query,
    hf_list,
    ledger_filters,
    ledger_query,
    query,
    transport_error,
)
from kuledger_client._core import client_oid as new_client_oid
from kuledger_client._exceptions import ClientError
from kuledger_client._ledger import (
    LedgerName,
    WindowWalk,
    ledger_windows,
    order_key,
    window_plan,
)
from kuledger_client._models import (
    Account,
    AccountDetail,
    AnyLedgerEntry,
    FuturesLedgerPage,
    LedgerEntry,
    ServiceStatus,
    SpotLedgerPage,
    TransferQuotas,
    TransferResult,
)


class KucoinClient(BaseClient):
    """A client; KucoinClient's methods block, AsyncKucoinClient's are awaited
    (and its `iter_ledger` is an async iterator).

    `base_url` defaults to https://api.kucoin.com; `futures_base_url` to
    https://api-futures.kucoin.com, or to `base_url` when that is custom.
    `transport` is handed to httpx; `sleep` and `jitter` are injectable so
    tests never sleep.
    """

    def __init__(
        self,
        key: str | None = None,
        secret: str | None = None,
        passphrase: str | None = None,
        *,
        key_version: int = 3,
        base_url: str = DEFAULT_BASE_URL,
        futures_base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        respect_rate_limits: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._core = Core(
            key,
            secret,
            passphrase,
            key_version=key_version,
            base_url=base_url,
            futures_base_url=futures_base_url,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            respect_rate_limits=respect_rate_limits,
            jitter=jitter,
            clock=clock,
        )
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        name: str,
        params: Params | None = None,
        payload: dict[str, Any] | None = None,
        path_args: dict[str, str] | None = None,
    ) -> Any:
        endpoint = ENDPOINTS[name]
        auth = self._core.auth_for(endpoint)
        attempt = 0
        while True:
            wait = self._core.wait_before(endpoint)
            if wait > 0:
                self._sleep(wait)
            request = self._core.build(endpoint, params, payload, path_args)
            error: ClientError
            try:
                response = self._http.send(request, auth=auth)
            except httpx.TransportError as exc:
                error = transport_error(exc, endpoint)
            else:
                try:
                    return self._core.parse(endpoint, response)
                except ClientError as exc:
                    error = exc
            delay = self._core.retry_delay(endpoint, attempt, error)
            if delay is None:
                raise error
            self._sleep(delay)
            attempt += 1

    # -- ledgers -------------------------------------------------------------

    def get_spot_ledger(
        self,
        *,
        currency: Currencies = None,
        direction: str | None = None,
        biz_type: str | None = None,
        start_at: Time | None = None,
        end_at: Time | None = None,
        current_page: int = 1,
        page_size: int = 50,
    ) -> SpotLedgerPage:
        """GET /api/v1/accounts/ledgers: one page, newest first."""
        params = ledger_query(
            currency,
            direction,
            biz_type,
            startAt=start_at,
            endAt=end_at,
            currentPage=current_page,
            pageSize=page_size,
        )
        return SpotLedgerPage.parse(self._call("get_spot_ledger", params))

    def get_spot_hf_ledger(self, **page: Unpack[CursorPage]) -> list[LedgerEntry]:
        """GET /api/v1/hf/accounts/ledgers: items with id < last_id, newest first."""
        return hf_list(self._call("get_spot_hf_ledger", cursor_query(**page)))

    def get_margin_hf_ledger(self, **page: Unpack[CursorPage]) -> list[LedgerEntry]:
        """GET /api/v3/hf/margin/account/ledgers: items with id < last_id."""
        return hf_list(self._call("get_margin_hf_ledger", cursor_query(**page)))

    def get_futures_ledger(
        self,
        *,
        currency: str | None = None,
        type: str | None = None,
        offset: int | None = None,
        forward: bool = True,
        max_count: int = 50,
        start_at: Time | None = None,
        end_at: Time | None = None,
    ) -> FuturesLedgerPage:
        """GET /api/v1/transaction-history on the futures host."""
        params = query(
            currency=currency,
            type=type,
            offset=offset,
            forward=forward,
            maxCount=max_count,
            startAt=start_at,
            endAt=end_at,
        )
        return FuturesLedgerPage.parse(self._call("get_futures_ledger", params))

    def iter_ledger(
        self,
        start: Time,
        end: Time,
        *,
        currencies: Currencies = None,
        biz_type: str | None = None,
        direction: str | None = None,
        ledger: LedgerName = "spot",
        newest_first: bool = True,
    ) -> Iterator[AnyLedgerEntry]:
        """Every entry with start <= createdAt <= end, each exactly once, in 24 h
        windows and all their pages (see kuledger_client._ledger)."""
        filters = ledger_filters(ledger, currencies, biz_type, direction)
        for window in ledger_windows(start, end, newest_first=newest_first):
            walks, in_order = window_plan(ledger, window, filters)
            if in_order and newest_first:
                for walk in walks:
                    for entry in self._walk(walk):
                        yield entry
            else:
                entries = [entry for walk in walks for entry in self._walk(walk)]
                entries.sort(key=order_key, reverse=newest_first)
                for entry in entries:
                    yield entry

    def _walk(self, walk: WindowWalk) -> Iterator[AnyLedgerEntry]:
        while (request := walk.next_request()) is not None:
            page = getattr(self, request.method)(**request.kwargs)
            yield from walk.feed(page)

    # -- accounts ------------------------------------------------------------

    def get_spot_account_list(
        self, *, currency: str | None = None, type: str | None = None
    ) -> list[Account]:
        """GET /api/v1/accounts."""
        params = query(currency=currency, type=type)
        data = self._call("get_spot_account_list", params)
        return [Account.parse(item) for item in data or []]

    get_account_list = get_spot_account_list

    def get_spot_account_detail(self, account_id: str) -> AccountDetail:
        """GET /api/v1/accounts/{accountId}; NotFoundError (230008) if unknown."""
        path_args = {"accountId": account_id}
        data = self._call("get_spot_account_detail", path_args=path_args)
        return AccountDetail.parse(data)

    def get_spot_account_type(self) -> bool:
        """GET /api/v1/hf/accounts/opened: True when the user trades from HF."""
        return bool(self._call("get_spot_account_type"))

    # -- transfers -----------------------------------------------------------

    def flex_transfer(
        self,
        *,
        currency: str,
        amount: Amount,
        from_account_type: str,
        to_account_type: str,
        type: str = "INTERNAL",
        client_oid: str | None = None,
        from_user_id: str | None = None,
        to_user_id: str | None = None,
        from_account_tag: str | None = None,
        to_account_tag: str | None = None,
    ) -> TransferResult:
        """POST /api/v3/accounts/universal-transfer."""
        payload = body(
            clientOid=new_client_oid(client_oid),
            type=type,
            currency=currency,
            amount=Decimal(amount),
            fromUserId=from_user_id,
            fromAccountType=from_account_type,
            fromAccountTag=from_account_tag,
            toUserId=to_user_id,
            toAccountType=to_account_type,
            toAccountTag=to_account_tag,
        )
        return TransferResult.parse(self._call("flex_transfer", payload=payload))

    def inner_transfer(
        self,
        *,
        currency: str,
        amount: Amount,
        from_: str,
        to: str,
        client_oid: str | None = None,
        from_tag: str | None = None,
        to_tag: str | None = None,
    ) -> TransferResult:
        """POST /api/v2/accounts/inner-transfer: between two of the user's
        accounts, named in lowercase (`from_="main", to="trade"`)."""
        payload = body(
            clientOid=new_client_oid(client_oid),
            currency=currency,
            amount=Decimal(amount),
            **{"from": from_},
            to=to,
            fromTag=from_tag,
            toTag=to_tag,
        )
        return TransferResult.parse(self._call("inner_transfer", payload=payload))

    def get_transfer_quotas(
        self, *, currency: str, type: str, tag: str | None = None
    ) -> TransferQuotas:
        """GET /api/v1/accounts/transferable (`type` uppercase, e.g. MAIN)."""
        params = query(currency=currency, type=type, tag=tag)
        return TransferQuotas.parse(self._call("get_transfer_quotas", params))

    # -- public --------------------------------------------------------------

    def get_server_time(self) -> int:
        """GET /api/v1/timestamp: the server's time in ms (no credentials needed)."""
        return int(self._call("get_server_time"))

    def get_service_status(self) -> ServiceStatus:
        """GET /api/v1/status."""
        return ServiceStatus.parse(self._call("get_service_status"))
