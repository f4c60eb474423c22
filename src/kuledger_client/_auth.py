"""KucoinAuth: signs each request as it is sent, with a fresh timestamp."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import httpx

from kuledger_client.signing import auth_headers


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def signed_path(url: httpx.URL) -> str:
    """The path and query KuCoin signs: the query un-encoded, in the order sent
    (the wire form stays percent-encoded; servers check the decoded one)."""
    params = url.params.multi_items()
    if not params:
        return url.path
    return url.path + "?" + "&".join(f"{name}={value}" for name, value in params)


class KucoinAuth(httpx.Auth):
    """KC-API-* headers for every request. httpx calls auth_flow on each send,
    so a retried request is signed again with a new KC-API-TIMESTAMP."""

    requires_request_body = True

    def __init__(
        self,
        key: str,
        secret: str,
        passphrase: str,
        key_version: int = 3,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._key = key
        self._secret = secret
        self._passphrase = passphrase
        self._key_version = key_version
        self._clock = clock

    def __repr__(self) -> str:  # never show the secret or passphrase
        return f"KucoinAuth(key={self._key!r}, key_version={self._key_version})"

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            auth_headers(
                self._key,
                self._secret,
                self._passphrase,
                str(self._clock()),
                request.method,
                signed_path(request.url),
                request.content.decode(),
                self._key_version,
            )
        )
        yield request
