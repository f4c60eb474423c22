"""Everything the SDK raises. KuCoin's error codes become exception classes:

    ClientError                    base of everything raised here
    ├── KucoinError                the server answered with a KuCoin error envelope
    │   ├── AuthenticationError    400001-400012: headers, key, timestamp,
    │   │                          passphrase, signature, IP, permission
    │   ├── RateLimitError         429000: the pool's quota is spent
    │   ├── BadRequestError        400100 and every other 4xxxxx code
    │   ├── NotFoundError          404000 (no such path), 230008 (no such account)
    │   └── ServerError            500000, 503000 and every other 5xxxxx code
    └── TransportError             no usable answer: connection failed, timed
                                   out, or the body was not a KuCoin response

A code outside these families (200004 "balance insufficient", 230003, ...)
raises KucoinError itself. When a reply carries no six-digit code (a proxy's
HTML page, futures' {"code":"404"}), the HTTP status picks the class.
"""

from __future__ import annotations

import httpx


class ClientError(Exception):
    """Base of every exception the SDK raises."""


class KucoinError(ClientError):
    """Raised when the server answers with a KuCoin error envelope
    {"code": "<code>", "msg": "<text>"}; `status` is the HTTP status."""

    def __init__(
        self,
        code: str,
        msg: str,
        status: int,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{code} {msg} (HTTP {status})")
        self.code = code
        self.msg = msg
        self.status = status
        self.response = response


class AuthenticationError(KucoinError):
    """Raised for 400001-400012: a missing or wrong header, key, timestamp,
    passphrase or signature, a refused IP, or a key without the permission."""


class RateLimitError(KucoinError):
    """Raised for 429000 once the retries are spent: the pool's quota is used up
    until the window resets (the gw-ratelimit-reset header says when)."""


class BadRequestError(KucoinError):
    """Raised for 400100 (parameter error) and every other 4xxxxx code."""


class NotFoundError(KucoinError):
    """Raised for 404000 (the server does not serve the path) and 230008
    (the account does not exist)."""


class ServerError(KucoinError):
    """Raised for 500000, 503000 and other 5xxxxx codes once the retries are spent."""


class TransportError(ClientError):
    """Raised when no usable answer arrived: the connection failed or timed out
    (after the retries; `transient` is then True), or the body was not a
    KuCoin response."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


_BY_CODE: dict[str, type[KucoinError]] = {
    "429000": RateLimitError,
    "404000": NotFoundError,
    "230008": NotFoundError,
}
_BY_STATUS: dict[int, type[KucoinError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class(code: str, status: int) -> type[KucoinError]:
    """The most specific class for a KuCoin code (or, lacking one, an HTTP status)."""
    if len(code) == 6 and code.isdigit():
        number = int(code)
        if code in _BY_CODE:
            return _BY_CODE[code]
        if 400001 <= number <= 400012:
            return AuthenticationError
        if 400000 <= number < 500000:
            return BadRequestError
        if 500000 <= number < 600000:
            return ServerError
        return KucoinError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return BadRequestError
    if status >= 500:
        return ServerError
    return KucoinError


def error_for(
    code: str, msg: str, status: int, response: httpx.Response | None = None
) -> KucoinError:
    return error_class(code, status)(code, msg, status, response)
