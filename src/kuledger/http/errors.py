"""The one error table: every error class to (HTTP status, KuCoin code).

The most specific class wins (the exception's MRO is walked); anything not in
the table is a 500000 with a generic message, its traceback only in the log.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException

from kuledger.domain import errors as domain
from kuledger.domain.funding import AddressExists
from kuledger.http import auth
from kuledger.http.envelope import Envelope, fail
from kuledger.http.rate_policy import LimiterDown, RateLimited
from kuledger.services.ports import StorageUnavailable

log = logging.getLogger("kuledger.http")


class UnsupportedMediaType(Exception):
    """Raised when a body is not JSON (Content-Type must be application/json)."""


class BodyTooLarge(Exception):
    """Raised when a request body exceeds the configured limit."""


class NotFound(Exception):
    """Raised when a path names a record that does not exist (operator API)."""


KUCOIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    auth.MissingAuthHeaders: (400, "400001"),
    auth.InvalidTimestamp: (400, "400002"),
    auth.UnknownKey: (401, "400003"),
    auth.InvalidPassphrase: (401, "400004"),
    auth.InvalidSignature: (401, "400005"),
    auth.ForbiddenIp: (403, "400006"),
    auth.PermissionDenied: (403, "400007"),
    auth.InvalidKeyVersion: (400, "400009"),
    auth.AuthError: (401, "400003"),
    AddressExists: (200, "260000"),
    domain.InvalidInput: (200, "400100"),
    domain.IdempotencyConflict: (200, "400100"),
    domain.BackdatedOperation: (200, "400100"),
    domain.NotASubAccount: (200, "400100"),
    domain.NotAMasterAccount: (403, "400007"),
    domain.UnknownUser: (200, "400100"),
    domain.UserExists: (200, "400100"),
    domain.UnknownApiKey: (401, "400003"),
    domain.UnreadableSecret: (401, "400003"),
    domain.AccountNotFound: (200, "230008"),
    domain.InsufficientBalance: (200, "200004"),
    domain.LedgerError: (200, "400100"),
    RateLimited: (429, "429000"),
    LimiterDown: (503, "503000"),
    StorageUnavailable: (503, "503000"),
    UnsupportedMediaType: (415, "415000"),
    BodyTooLarge: (413, "413000"),
    NotFound: (404, "404000"),
}

_HTTP_MESSAGES = {404: "Url Not Found", 405: "Method Not Allowed"}


def lookup(error: type[BaseException]) -> tuple[int, str] | None:
    """The entry of the error class or of its nearest base in the table."""
    for cls in error.__mro__:
        if cls in KUCOIN_ERRORS:
            return KUCOIN_ERRORS[cls]
    return None


def describe(exc: BaseException) -> tuple[int, str, str] | None:
    """(HTTP status, KuCoin code, message) of an error in the table, else None."""
    found = lookup(type(exc))
    if found is None:
        return None
    message = exc.message if isinstance(exc, domain.InvalidInput) else str(exc)
    return (*found, message)


def error_response(exc: BaseException) -> Envelope:
    """The KuCoin envelope for any exception; unexpected ones become 500000.
    Starlette's own HTTP errors (404, 405, ...) answer code "<status>000"."""
    if isinstance(exc, HTTPException):
        code = f"{exc.status_code}000"
        message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
        return fail(code, message, exc.status_code, exc.headers)
    described = describe(exc)
    if described is None:
        log.error("unexpected error", exc_info=exc)
        return fail("500000", "Internal Server Error", 500)
    status, code, message = described
    return fail(code, message, status, getattr(exc, "headers", None))
