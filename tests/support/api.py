"""Hand-built KuCoin requests for e2e tests: sign one thing, send another, drop
a header; and the assertions every KuCoin response shape needs."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx

from kuledger_client.signing import auth_headers
from tests.support.server import ApiUser, Server

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
LEDGER = "/api/v1/accounts/ledgers"
_CODE = re.compile(r"[0-9]{6}")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_uid(prefix: str) -> str:
    """A uid no other test uses, so tests can share one server."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def signed_headers(
    user: ApiUser,
    method: str,
    signed_path: str,
    body: str = "",
    *,
    timestamp: int | str | None = None,
    key_version: int | None = None,
) -> dict[str, str]:
    """The KC-API-* headers for `signed_path` (which need not be what is sent)."""
    ts = str(now_ms() if timestamp is None else timestamp)
    version = user.key_version if key_version is None else key_version
    return auth_headers(
        user.key,
        user.secret,
        user.passphrase,
        ts,
        method,
        signed_path,
        body,
        version,
    )


def send(
    server: Server,
    method: str,
    path_and_query: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> httpx.Response:
    """Send exactly this path and query (httpx keeps the bytes as given)."""
    return server.http.request(
        method, server.base_url + path_and_query, headers=headers or {}, content=body
    )


def query_string(**params: Any) -> str:
    """`?a=1&b=2` from keyword arguments, values written as given (unencoded)."""
    if not params:
        return ""
    return "?" + "&".join(f"{name}={value}" for name, value in params.items())


def ok_data(response: httpx.Response) -> Any:
    """The `data` of a success envelope, after checking the envelope."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body.get("code") == "200000", body
    assert set(body) == {"code", "data"}, body
    return body["data"]


def assert_error(
    response: httpx.Response, status: int, code: str, msg_contains: str = ""
) -> str:
    """The response is exactly KuCoin's error envelope; returns its message."""
    assert (response.status_code, _code_of(response)) == (status, code), (
        response.status_code,
        response.text,
    )
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"code", "msg"}, body
    assert isinstance(body["code"], str)
    assert _CODE.fullmatch(body["code"]), body
    assert isinstance(body["msg"], str), body
    assert body["msg"], body
    assert msg_contains in body["msg"], body
    return str(body["msg"])


def _code_of(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None
