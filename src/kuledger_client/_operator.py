"""What OperatorClient and AsyncOperatorClient share, without I/O: building
requests, reading replies into typed results or exceptions, and when to retry.

The operator API (kuledger's docs/operator-api.md) applies operations, manages
users and API keys, and reads balances and the verify status, authenticated
by an operator token (`Authorization: Bearer ...`) or, on an mTLS listener,
by a client certificate."""

from __future__ import annotations

import json
import random
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from kuledger_client._core import envelope_data
from kuledger_client._exceptions import ClientError, ServerError, TransportError
from kuledger_client._models import Raw, _bool, _decimal, _field, _int, _list, _text

DEFAULT_OPERATOR_URL = "http://127.0.0.1:8001"
PREFIX = "/operator/v1"
USER_AGENT = "kuledger-client"


def _optional(raw: Raw, name: str, read: Callable[[Raw, str], Any]) -> Any:
    return None if _field(raw, name) is None else read(raw, name)


def _strings(raw: Raw, name: str) -> tuple[str, ...]:
    return tuple(str(v) for v in _list(_field(raw, name), name))


@dataclass(frozen=True, slots=True)
class OperationResult:
    """An applied operation; `replayed` when its id had been applied before."""

    uid: str
    id: str
    op: str
    entry_ids: tuple[int, ...]
    created_at: int
    replayed: bool

    @classmethod
    def parse(cls, raw: Raw) -> OperationResult:
        return cls(
            _text(raw, "uid"),
            _text(raw, "id"),
            _text(raw, "op"),
            tuple(int(i) for i in _strings(raw, "entries")),
            _int(raw, "createdAt"),
            _bool(raw, "replayed"),
        )


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One operation of a batch: its result, or the code and message that
    refused it."""

    index: int
    code: str
    result: OperationResult | None = None
    msg: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    @classmethod
    def parse(cls, raw: Raw) -> BatchItem:
        result = raw.get("result")
        return cls(
            _int(raw, "index"),
            _text(raw, "code"),
            None if result is None else OperationResult.parse(result),
            raw.get("msg"),
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    atomic: bool
    accepted: int
    rejected: int
    items: list[BatchItem]

    @classmethod
    def parse(cls, raw: Raw) -> BatchResult:
        return cls(
            _bool(raw, "atomic"),
            _int(raw, "accepted"),
            _int(raw, "rejected"),
            [BatchItem.parse(i) for i in _list(_field(raw, "results"), "results")],
        )


@dataclass(frozen=True, slots=True)
class OperationEntry:
    """An entry an operation wrote, with the account's balance after it."""

    id: int
    account_id: str
    account_type: str
    currency: str
    amount: Decimal
    fee: Decimal
    balance: Decimal
    direction: str
    biz_type: str
    created_at: int
    context: str
    seq: int

    @classmethod
    def parse(cls, raw: Raw) -> OperationEntry:
        return cls(
            _int(raw, "id"),
            _text(raw, "accountId"),
            _text(raw, "accountType"),
            _text(raw, "currency"),
            _decimal(raw, "amount"),
            _decimal(raw, "fee"),
            _decimal(raw, "balance"),
            _text(raw, "direction"),
            _text(raw, "bizType"),
            _int(raw, "createdAt"),
            str(_field(raw, "context")),
            _int(raw, "seq"),
        )


@dataclass(frozen=True, slots=True)
class OperationStatus:
    uid: str
    id: str
    op: str
    status: str
    created_at: int
    entries: list[OperationEntry]

    @classmethod
    def parse(cls, raw: Raw) -> OperationStatus:
        return cls(
            _text(raw, "uid"),
            _text(raw, "id"),
            _text(raw, "op"),
            _text(raw, "status"),
            _int(raw, "createdAt"),
            [OperationEntry.parse(e) for e in _list(_field(raw, "entries"), "entries")],
        )


@dataclass(frozen=True, slots=True)
class LedgerUser:
    uid: str
    parent_uid: str | None
    vip_level: int
    hf: bool
    created_at: int

    @classmethod
    def parse(cls, raw: Raw) -> LedgerUser:
        return cls(
            _text(raw, "uid"),
            _optional(raw, "parentUid", _text),
            _int(raw, "vipLevel"),
            _bool(raw, "hf"),
            _int(raw, "createdAt"),
        )


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[LedgerUser]
    next: str | None  # the next page's `after`; None on the last page

    @classmethod
    def parse(cls, raw: Raw) -> UserPage:
        items = _list(_field(raw, "items"), "items")
        return cls([LedgerUser.parse(u) for u in items], _optional(raw, "next", _text))


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as listed: never its secret."""

    key: str
    uid: str
    permissions: tuple[str, ...]
    ip_whitelist: tuple[str, ...]
    key_version: int
    created_at: int
    revoked_at: int | None

    @classmethod
    def fields_of(cls, raw: Raw) -> dict[str, Any]:
        return {
            "key": _text(raw, "key"),
            "uid": _text(raw, "uid"),
            "permissions": _strings(raw, "permissions"),
            "ip_whitelist": _strings(raw, "ipWhitelist"),
            "key_version": _int(raw, "keyVersion"),
            "created_at": _int(raw, "createdAt"),
            "revoked_at": _optional(raw, "revokedAt", _int),
        }

    @classmethod
    def parse(cls, raw: Raw) -> ApiKeyInfo:
        return cls(**cls.fields_of(raw))


@dataclass(frozen=True, slots=True)
class NewApiKey(ApiKeyInfo):
    """A key just issued: the only time its secret and passphrase are seen."""

    secret: str = field(default="", repr=False)
    passphrase: str = field(default="", repr=False)

    @classmethod
    def parse(cls, raw: Raw) -> NewApiKey:
        return cls(
            **cls.fields_of(raw),
            secret=_text(raw, "secret"),
            passphrase=_text(raw, "passphrase"),
        )


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account's balance now (with available and holds) or at a time
    (balance only: holds are not entries)."""

    id: str
    type: str
    currency: str
    balance: Decimal
    available: Decimal | None
    holds: Decimal | None
    seq: int
    last_entry_at: int | None

    @classmethod
    def parse(cls, raw: Raw) -> AccountBalance:
        return cls(
            _text(raw, "id"),
            _text(raw, "type"),
            _text(raw, "currency"),
            _decimal(raw, "balance"),
            _optional(raw, "available", _decimal),
            _optional(raw, "holds", _decimal),
            _int(raw, "seq"),
            _optional(raw, "lastEntryAt", _int),
        )


@dataclass(frozen=True, slots=True)
class VerifyStatus:
    last_clean_at: int | None
    accounts: int
    checkpointed: int
    behind: int

    @classmethod
    def parse(cls, raw: Raw) -> VerifyStatus:
        return cls(
            _optional(raw, "lastCleanAt", _int),
            _int(raw, "accounts"),
            _int(raw, "checkpointed"),
            _int(raw, "behind"),
        )


def wire(value: Any) -> Any:
    """An operation as JSON takes it: Decimal amounts as plain digit strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    return value


def segment(text: str) -> str:
    return quote(text, safe="")


def tls_verify(
    ca_bundle: str | None, client_cert: str | tuple[str, str] | None
) -> ssl.SSLContext | bool:
    """httpx's `verify=` for an https operator listener: the system's CAs or
    `ca_bundle`, and with `client_cert` (a PEM file holding the certificate
    and its key, or a (certificate, key) pair) the certificate mTLS asks for."""
    if ca_bundle is None and client_cert is None:
        return True
    context = ssl.create_default_context(cafile=ca_bundle)
    if isinstance(client_cert, tuple):
        context.load_cert_chain(*client_cert)
    elif client_cert is not None:
        context.load_cert_chain(client_cert)
    return context


class OperatorCore:
    def __init__(
        self,
        token: str | None,
        *,
        base_url: str,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if token is not None:  # None: the client certificate identifies us
            self._headers["Authorization"] = f"Bearer {token}"
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._jitter = jitter

    def build(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        payload: Any,
    ) -> httpx.Request:
        content = None
        if payload is not None:
            content = json.dumps(wire(payload), separators=(",", ":")).encode()
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return httpx.Request(
            method,
            self.base_url + PREFIX + path,
            params=query or None,
            content=content,
            headers=self._headers,
        )

    def parse(self, request: httpx.Request, response: httpx.Response) -> Any:
        """The `data` of a success envelope, or the matching exception."""
        return envelope_data(f"{request.method} {request.url.path}", response)

    def retry_delay(self, attempt: int, error: ClientError) -> float | None:
        """Seconds before the next attempt of a call that is safe to repeat
        (operations are idempotent by id), or None to give up."""
        if attempt >= self.max_retries:
            return None
        if isinstance(error, ServerError) or (
            isinstance(error, TransportError) and error.transient
        ):
            ceiling = min(self.backoff_max, self.backoff_base * 2.0**attempt)
            return ceiling / 2 + self._jitter() * ceiling / 2
        return None


def transport_failure(exc: httpx.TransportError, request: httpx.Request) -> ClientError:
    error = TransportError(
        f"{request.method} {request.url.path}: {type(exc).__name__}: {exc}",
        transient=True,
    )
    error.__cause__ = exc
    return error
