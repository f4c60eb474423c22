"""Operator tokens at the edge: `Authorization: Bearer <token>`, checked
against the stored hashes, then the endpoint's scope. The errors subclass the
KuCoin ones, so the one error table (http/errors.py) gives them their codes:
no token 400001 (HTTP 400), an unknown or revoked one 400003 (401), a token
without the endpoint's scope 400007 (403). On an mTLS listener a request
without the header is identified by its client certificate's CN, which must
name an active token (else 400003)."""

from __future__ import annotations

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
