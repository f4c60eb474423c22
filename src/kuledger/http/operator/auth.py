"""Operator tokens at the edge: `Authorization: Bearer <token>`, checked
against the stored hashes, then the endpoint's scope. The errors subclass the
KuCoin ones, so the one error table (http/errors.py) gives them their codes:
no token 400001 (HTTP 400), an unknown or revoked one 400003 (401), a token
without the endpoint's scope 400007 (403). On an mTLS listener a request
without the header is identified by its client certificate's CN, which must
name an active token (else 400003)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from threading import Lock

from kuledger.http.auth import MissingAuthHeaders, PermissionDenied, UnknownKey
from kuledger.services import operator_tokens
from kuledger.services.operator_tokens import OperatorToken, Scope, TokenStore


class MissingToken(MissingAuthHeaders):
    message = "Please check the Authorization header: Bearer <operator token>"


class UnknownToken(UnknownKey):
    message = "operator token not exists or was revoked"


class UnknownCertificate(UnknownKey):
    message = "the client certificate's CN names no active operator token"


class ScopeDenied(PermissionDenied):
    message = "Access denied, the operator token requires the scope {scope}."


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken()
    return token.strip()


def identify(
    store: TokenStore, authorization: str | None, certificate_cn: str | None = None
) -> OperatorToken:
    """The caller's token: the bearer header's if one came, else the one a
    verified client certificate's CN names (mTLS), else MissingToken."""
    if certificate_cn is not None and not authorization:
        token = operator_tokens.for_certificate(store, certificate_cn)
        if token is None:
            raise UnknownCertificate()
        return token
    token = operator_tokens.authenticate(store, bearer(authorization))
    if token is None:
        raise UnknownToken()
    return token


def require(token: OperatorToken, scope: Scope) -> None:
    if scope not in token.scopes:
        raise ScopeDenied(ScopeDenied.message.format(scope=scope.value))


class TokenCache:
    """Bearer tokens this process has authenticated, for the write endpoints:
    a cached token is taken without a database read, and the writer checks
    it once a batch (`check(token)`, run before the batch's transaction), so
    one read serves every request of the batch that carries it. A write is
    therefore applied only if its token was still active after the request
    arrived, when its batch began: never later than the read per request
    this replaces. A revoked token fails that check, leaves the cache, and
    its queued requests are answered 400003 with nothing written. Only
    found tokens are kept (at most `size`): a bad token costs a read."""

    def __init__(self, store: TokenStore, size: int = 256) -> None:
        self._store = store
        self._size = size
        self._tokens: dict[str, OperatorToken] = {}  # by hash
        self._checks: dict[str, Callable[[], None]] = {}  # one per token
        self._lock = Lock()  # the writer thread forgets, the event loop adds

    def get(self, authorization: str | None) -> OperatorToken | None:
        """The cached token of this header, or None (then authenticate with
        `identify`, and `add` what it returns). No I/O."""
        try:
            text = bearer(authorization)
        except MissingToken:
            return None
        return self._tokens.get(operator_tokens.hash_token(text))

    def add(self, token: OperatorToken) -> None:
        with self._lock:
            if len(self._tokens) >= self._size and token.token_hash not in self._tokens:
                oldest = next(iter(self._tokens))
                del self._tokens[oldest]
                self._checks.pop(oldest, None)
            self._tokens[token.token_hash] = token

    def forget(self, token_hash: str) -> None:
        with self._lock:
            self._tokens.pop(token_hash, None)
            self._checks.pop(token_hash, None)

    def check(self, token: OperatorToken) -> Callable[[], None]:
        """The writer's check that `token` is still active: the same callable
        for every request carrying it, so a batch runs it once."""
        with self._lock:
            found = self._checks.get(token.token_hash)
            if found is None:
                found = self._checks[token.token_hash] = partial(self._recheck, token)
            return found

    def _recheck(self, token: OperatorToken) -> None:
        fresh = self._store.by_hash(token.token_hash)
        if fresh is None or fresh.revoked_at is not None:
            self.forget(token.token_hash)
            raise UnknownToken()
