"""What the sync and async clients share, without I/O: the endpoint table
(with KuCoin's rate-limit weights), the argument types and query helpers,
building and signing requests, reading replies into data or exceptions,
rate-limit bookkeeping and backoff."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

import httpx

from kuledger_client._auth import KucoinAuth, wall_clock_ms
from kuledger_client._exceptions import (
    ClientError,
    RateLimitError,
    ServerError,
    TransportError,
    error_for,
)
from kuledger_client._ledger import LEDGERS, Filters, to_ms
from kuledger_client._models import LedgerEntry, RateLimit

DEFAULT_BASE_URL = "https://api.kucoin.com"
DEFAULT_FUTURES_BASE_URL = "https://api-futures.kucoin.com"
USER_AGENT = "kuledger-client"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An SDK method's endpoint and its rate-limit pool and weight
    (kucoin-api-spec.md 6.3)."""

    method: str
    path: str
    pool: str
    weight: int
    signed: bool = True
    futures: bool = False


ENDPOINTS: dict[str, Endpoint] = {
    "get_spot_ledger": Endpoint("GET", "/api/v1/accounts/ledgers", "Management", 2),
    "get_spot_hf_ledger": Endpoint("GET", "/api/v1/hf/accounts/ledgers", "Spot", 2),
    "get_margin_hf_ledger": Endpoint(
        "GET", "/api/v3/hf/margin/account/ledgers", "Spot", 2
    ),
    "get_futures_ledger": Endpoint(
        "GET", "/api/v1/transaction-history", "Futures", 2, futures=True
    ),
    "get_spot_account_list": Endpoint("GET", "/api/v1/accounts", "Management", 5),
    "get_spot_account_detail": Endpoint(
        "GET", "/api/v1/accounts/{accountId}", "Management", 5
    ),
    "get_spot_account_type": Endpoint("GET", "/api/v1/hf/accounts/opened", "Spot", 30),
    "get_transfer_quotas": Endpoint(
        "GET", "/api/v1/accounts/transferable", "Management", 20
    ),
    "inner_transfer": Endpoint(
        "POST", "/api/v2/accounts/inner-transfer", "Management", 10
    ),
    "flex_transfer": Endpoint(
        "POST", "/api/v3/accounts/universal-transfer", "Management", 4
    ),
    "get_server_time": Endpoint("GET", "/api/v1/timestamp", "Public", 3, signed=False),
    "get_service_status": Endpoint("GET", "/api/v1/status", "Public", 3, signed=False),
}

Params = list[tuple[str, str]]
Time = int | datetime
Currencies = str | Sequence[str] | None
Amount = Decimal | str
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]


def query(**values: Any) -> Params:
    """Query pairs in the order given, None dropped; lists comma-joined, bools
    true/false, times (int or datetime) as milliseconds, Decimals as digits."""
    pairs: Params = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, datetime):
            text = str(to_ms(value))
        elif isinstance(value, Decimal):
            text = format(value, "f")
        elif isinstance(value, str):
            text = value
        elif isinstance(value, Sequence):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        pairs.append((name, text))
    return pairs


def body(**values: Any) -> dict[str, Any]:
    """A JSON body: None dropped, Decimals as plain digit strings."""
    return {
        k: format(v, "f") if isinstance(v, Decimal) else v
        for k, v in values.items()
        if v is not None
    }


def currency_list(value: Currencies) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(c.strip() for c in value.split(",") if c.strip())
    return tuple(value)


class CursorPage(TypedDict, total=False):
    """The keywords of both HF ledger calls (spot and margin)."""

    currency: Currencies
    direction: str | None
    biz_type: str | None
    last_id: int | str | None  # items with id < last_id
    limit: int  # 100 when not given
    start_at: Time | None
    end_at: Time | None


def ledger_query(
    currency: Currencies, direction: str | None, biz_type: str | None, **paging: Any
) -> Params:
    """A spot ledger's query: the filters, then the paging in the order given."""
    return query(
        currency=currency_list(currency) or None,
        direction=direction,
        bizType=biz_type,
        **paging,
    )


def cursor_query(
    *,
    currency: Currencies = None,
    direction: str | None = None,
    biz_type: str | None = None,
    last_id: int | str | None = None,
    limit: int = 100,
    start_at: Time | None = None,
    end_at: Time | None = None,
) -> Params:
    """The query of a CursorPage: a `lastId` cursor page."""
    return ledger_query(
        currency,
        direction,
        biz_type,
        lastId=last_id,
        limit=limit,
        startAt=start_at,
        endAt=end_at,
    )


def hf_list(data: Any) -> list[LedgerEntry]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise TransportError("unexpected response: the ledger is not a list")
    return [LedgerEntry.parse(item) for item in data]


def ledger_filters(
    ledger: str, currencies: Currencies, biz_type: str | None, direction: str | None
) -> Filters:
    if ledger not in LEDGERS:
        raise ValueError(f"ledger must be one of {', '.join(LEDGERS)}, not {ledger!r}")
    return Filters(currency_list(currencies), biz_type, direction)


def client_oid(given: str | None) -> str:
    """The caller's clientOid, or a new one; kept across retries, so the server
    can recognise a repeat."""
    return given or uuid.uuid4().hex


@dataclass
class _Quota:
    remaining: int
    deadline: float  # time.monotonic() when the window resets


class Core:
    """Request building, reply parsing, rate-limit state and backoff."""

    def __init__(
        self,
        key: str | None,
        secret: str | None,
        passphrase: str | None,
        *,
        key_version: int,
        base_url: str,
        futures_base_url: str | None,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        respect_rate_limits: bool,
        jitter: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if futures_base_url is None:
            futures_base_url = (
                DEFAULT_FUTURES_BASE_URL
                if self.base_url == DEFAULT_BASE_URL
                else self.base_url
            )
        self.futures_base_url = futures_base_url.rstrip("/")
        self.auth: KucoinAuth | None = None
        if key and secret and passphrase:
            self.auth = KucoinAuth(key, secret, passphrase, key_version, clock)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.respect_rate_limits = respect_rate_limits
        self.margin = 0.05  # seconds added to a reset, for clock granularity
        self._jitter = jitter
        self._monotonic = monotonic
        self._quotas: dict[tuple[str, str], _Quota] = {}
        self.last_rate_limit: RateLimit | None = None

    def _host(self, endpoint: Endpoint) -> str:
        return self.futures_base_url if endpoint.futures else self.base_url

    def build(
        self,
        endpoint: Endpoint,
        params: Params | None,
        payload: Mapping[str, Any] | None,
        path_args: Mapping[str, str] | None,
    ) -> httpx.Request:
        path = endpoint.path.format(**(path_args or {}))
        content = None
        if payload is not None:
            content = json.dumps(payload, separators=(",", ":")).encode()
        return httpx.Request(
            endpoint.method,
            self._host(endpoint) + path,
            params=tuple(params) if params else None,
            content=content,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )

    def auth_for(self, endpoint: Endpoint) -> KucoinAuth | None:
        if not endpoint.signed:
            return None
        if self.auth is None:
            raise ClientError(
                f"{endpoint.method} {endpoint.path} is private: the client needs "
                "a key, secret and passphrase"
            )
        return self.auth

    # -- rate limits ---------------------------------------------------------

    def wait_before(self, endpoint: Endpoint) -> float:
        """Seconds to wait before sending: when what is left of the pool is below
        this request's weight, until the window resets (never a 429)."""
        if not self.respect_rate_limits:
            return 0.0
        key = (self._host(endpoint), endpoint.pool)
        quota = self._quotas.get(key)
        if quota is None:
            return 0.0
        now = self._monotonic()
        if now >= quota.deadline:
            del self._quotas[key]
            return 0.0
        if quota.remaining >= endpoint.weight:
            quota.remaining -= endpoint.weight  # until the reply says exactly
            return 0.0
        del self._quotas[key]
        return quota.deadline - now + self.margin

    def note_limits(self, endpoint: Endpoint, response: httpx.Response) -> None:
        limit = _int_header(response, "gw-ratelimit-limit")
        remaining = _int_header(response, "gw-ratelimit-remaining")
        reset = _int_header(response, "gw-ratelimit-reset")
        if limit is None or remaining is None or reset is None:
            return
        self.last_rate_limit = RateLimit(limit, remaining, reset)
        key = (self._host(endpoint), endpoint.pool)
        self._quotas[key] = _Quota(remaining, self._monotonic() + reset / 1000)

    # -- replies -------------------------------------------------------------

    def parse(self, endpoint: Endpoint, response: httpx.Response) -> Any:
        """The `data` of a success envelope, or the matching exception."""
        self.note_limits(endpoint, response)
        return envelope_data(f"{endpoint.method} {endpoint.path}", response)

    def retry_delay(
        self, endpoint: Endpoint, attempt: int, error: ClientError
    ) -> float | None:
        """Seconds before the next attempt, or None to give up: 429 waits for the
        reset, 5xx and connection failures back off exponentially, with jitter."""
        if attempt >= self.max_retries:
            return None
        if isinstance(error, RateLimitError):
            # this wait covers the reset: the next attempt need not wait again
            self._quotas.pop((self._host(endpoint), endpoint.pool), None)
            reset = None
            if error.response is not None:
                reset = _int_header(error.response, "gw-ratelimit-reset")
            backoff = self.backoff(attempt)
            if reset is None:
                return backoff
            return max(backoff, reset / 1000 + self.margin)
        if isinstance(error, ServerError) or (
            isinstance(error, TransportError) and error.transient
        ):
            return self.backoff(attempt)
        return None

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return ceiling / 2 + self._jitter() * ceiling / 2


class BaseClient:
    """What both clients read from their Core, as httpx's BaseClient is to its
    Client and AsyncClient."""

    _core: Core

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def futures_base_url(self) -> str:
        return self._core.futures_base_url

    @property
    def last_rate_limit(self) -> RateLimit | None:
        """The gw-ratelimit-* headers of the latest reply that had them."""
        return self._core.last_rate_limit


def envelope_data(what: str, response: httpx.Response) -> Any:
    """The `data` of a KuCoin success envelope, or the matching exception;
    `what` names the call in the error of a body that is no envelope."""
    status = response.status_code
    try:
        payload = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "code" not in payload:
        if 200 <= status < 300:
            raise TransportError(
                f"{what}: HTTP {status} with a body that is not a KuCoin "
                f"envelope: {response.text[:200]!r}"
            )
        raise error_for("", response.text[:200], status, response)
    code = str(payload["code"])
    if code == "200000" and "data" in payload and 200 <= status < 300:
        return payload["data"]
    raise error_for(code, str(payload.get("msg") or ""), status, response)


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def transport_error(exc: httpx.TransportError, endpoint: Endpoint) -> TransportError:
    error = TransportError(
        f"{endpoint.method} {endpoint.path}: {type(exc).__name__}: {exc}",
        transient=True,
    )
    error.__cause__ = exc
    return error
