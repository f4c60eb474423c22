# Generated from kuledger_client/_async/operator.py by scripts/unasync.py: do not edit.
# Change the async source and run `python scripts/unasync.py`.
"""OperatorClient and AsyncOperatorClient: kuledger's operator API.

Written once, for asyncio, here; scripts/unasync.py writes the blocking twin,
_sync/operator.py. Posting operations and every read are retried on 5xx
replies and connection failures (operations are idempotent by uid and id, so
a repeat is answered with the stored result); creating users and keys, and
revoking keys, are sent once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import httpx

from kuledger_client._core import Sleep
from kuledger_client._exceptions import ClientError
from kuledger_client._operator import (
    DEFAULT_OPERATOR_URL,
    AccountBalance,
    ApiKeyInfo,
    BatchResult,
    LedgerUser,
    NewApiKey,
    OperationResult,
    OperationStatus,
    OperatorCore,
    UserPage,
    VerifyStatus,
    segment,
    tls_verify,
    transport_failure,
)

Operation = Mapping[str, Any]  # a `kuledger post` line: {"op": ..., "uid": ...}


class OperatorClient:
    """A client of the operator API; OperatorClient's methods block,
    AsyncOperatorClient's are awaited. `token` comes from `kuledger
    operator-token create` (None on an mTLS listener, where `client_cert`
    names the token: operator-api.md#tls-and-client-certificates);
    `ca_bundle` is the PEM file of the CA that signed an https listener's
    certificate; `transport`, `sleep` and `jitter` are injectable so tests
    never sleep."""

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str = DEFAULT_OPERATOR_URL,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_base: float = 0.25,
        backoff_max: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        jitter: Callable[[], float] = random.random,
        ca_bundle: str | None = None,
        client_cert: str | tuple[str, str] | None = None,
    ) -> None:
        self._core = OperatorCore(
            token,
            base_url=base_url,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            jitter=jitter,
        )
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            verify=tls_verify(ca_bundle, client_cert),
        )

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        payload: Any = None,
        retry: bool = True,
    ) -> Any:
        attempt = 0
        while True:
            request = self._core.build(method, path, params, payload)
            error: ClientError
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                error = transport_failure(exc, request)
            else:
                try:
                    return self._core.parse(request, response)
                except ClientError as exc:
                    error = exc
            delay = self._core.retry_delay(attempt, error) if retry else None
            if delay is None:
                raise error
            self._sleep(delay)
            attempt += 1

    # -- operations --------------------------------------------------------------

    def post_operation(self, operation: Operation) -> OperationResult:
        """POST /operations: apply one operation (a replay returns its result)."""
        data = self._call("POST", "/operations", payload=operation)
        return OperationResult.parse(data)

    def post_operations(
        self, operations: Sequence[Operation], *, atomic: bool = False
    ) -> BatchResult:
        """POST /operations:batch: up to 1000, one result per operation. With
        `atomic`, all or none: a refusal raises the failing operation's error."""
        payload = {"operations": list(operations), "atomic": atomic}
        data = self._call("POST", "/operations:batch", payload=payload)
        return BatchResult.parse(data)

    def get_operation(self, uid: str, op_id: str) -> OperationStatus:
        """GET /operations/{uid}/{id}; NotFoundError if it was never applied."""
        path = f"/operations/{segment(uid)}/{segment(op_id)}"
        return OperationStatus.parse(self._call("GET", path))

    # -- users and keys ------------------------------------------------------------

    def create_user(
        self,
        uid: str | None = None,
        *,
        parent_uid: str | None = None,
        vip_level: int = 0,
        hf: bool = False,
    ) -> LedgerUser:
        payload: dict[str, Any] = {"vipLevel": vip_level, "hf": hf}
        if uid is not None:
            payload["uid"] = uid
        if parent_uid is not None:
            payload["parentUid"] = parent_uid
        data = self._call("POST", "/users", payload=payload, retry=False)
        return LedgerUser.parse(data)

    def list_users(self, *, after: str | None = None, limit: int = 100) -> UserPage:
        params = {"after": after, "limit": limit}
        return UserPage.parse(self._call("GET", "/users", params=params))

    def get_user(self, uid: str) -> LedgerUser:
        return LedgerUser.parse(self._call("GET", f"/users/{segment(uid)}"))

    def create_api_key(
        self,
        uid: str,
        *,
        permissions: Sequence[str] = ("General",),
        ip_whitelist: Sequence[str] = (),
        key_version: int = 3,
        passphrase: str | None = None,
    ) -> NewApiKey:
        """Issue a key: its secret and passphrase are in this result only."""
        payload: dict[str, Any] = {
            "permissions": list(permissions),
            "ipWhitelist": list(ip_whitelist),
            "keyVersion": key_version,
        }
        if passphrase is not None:
            payload["passphrase"] = passphrase
        path = f"/users/{segment(uid)}/api-keys"
        data = self._call("POST", path, payload=payload, retry=False)
        return NewApiKey.parse(data)

    def list_api_keys(self, uid: str) -> list[ApiKeyInfo]:
        data = self._call("GET", f"/users/{segment(uid)}/api-keys")
        return [ApiKeyInfo.parse(k) for k in data]

    def update_api_key(
        self,
        key: str,
        *,
        permissions: Sequence[str] | None = None,
        ip_whitelist: Sequence[str] | None = None,
    ) -> ApiKeyInfo:
        payload: dict[str, Any] = {}
        if permissions is not None:
            payload["permissions"] = list(permissions)
        if ip_whitelist is not None:
            payload["ipWhitelist"] = list(ip_whitelist)
        path = f"/api-keys/{segment(key)}"
        return ApiKeyInfo.parse(self._call("PATCH", path, payload=payload))

    def revoke_api_key(self, key: str) -> None:
        self._call("DELETE", f"/api-keys/{segment(key)}", retry=False)

    # -- balances and verify -------------------------------------------------------

    def get_balances(self, uid: str, *, at: int | None = None) -> list[AccountBalance]:
        """Every account of `uid` now, or as of `at` (ms) from post-balances."""
        path = f"/users/{segment(uid)}/accounts"
        data = self._call("GET", path, params={"at": at})
        return [AccountBalance.parse(a) for a in data["accounts"]]

    def get_verify_status(self) -> VerifyStatus:
        return VerifyStatus.parse(self._call("GET", "/verify"))
