"""Operator tokens: who may call the operator API, and with which scopes.

A token is 32 random bytes (URL-safe text with a `kuop_` prefix), shown once
when created and stored only as its SHA-256: it has full entropy, so a salt or
a slow hash would add nothing, and a database that leaks holds no usable token.
Scopes: `post` (apply operations), `read` (operations, users, keys, balances,
verify status), `admin` (create users and API keys, change and revoke keys).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from kuledger.domain.errors import InvalidInput, LedgerError
from kuledger.services.ports import Clock

PREFIX = "kuop_"
MAX_NAME_LENGTH = 64


class Scope(enum.StrEnum):
    POST = "post"
    READ = "read"
    ADMIN = "admin"

    @classmethod
    def parse_list(cls, text: str) -> frozenset[Scope]:
        chosen = set()
        for name in filter(None, (p.strip() for p in text.split(","))):
            try:
                chosen.add(cls(name))
            except ValueError:
                names = ", ".join(s.value for s in cls)
                raise InvalidInput(
                    "scope", f"unknown scope {name!r}; one of {names}"
                ) from None
        return frozenset(chosen)


@dataclass(frozen=True, slots=True)
class OperatorToken:
    """A stored token: its name, scopes and state; never its text."""

    name: str
    token_hash: str
    scopes: frozenset[Scope]
    created_at: int
    revoked_at: int | None = None


class TokenExists(LedgerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"an operator token named {name!r} already exists")


class UnknownToken(LedgerError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no active operator token named {name!r}")


class TokenStore(Protocol):
    def add(self, token: OperatorToken) -> bool:
        """False if the name is taken."""
        ...

    def by_hash(self, token_hash: str) -> OperatorToken | None: ...
    def by_name(self, name: str) -> OperatorToken | None: ...
    def all(self) -> list[OperatorToken]: ...
    def revoke(self, name: str, at: int) -> bool: ...


def hash_token(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def create_token(
    store: TokenStore, clock: Clock, *, name: str, scopes: frozenset[Scope]
) -> tuple[OperatorToken, str]:
    """A new token and its text: the only time the text is seen."""
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidInput(
            "name", f"a token name is 1..{MAX_NAME_LENGTH} printable characters"
        )
    if not scopes:
        raise InvalidInput("scope", "a token needs at least one scope")
    text = PREFIX + secrets.token_urlsafe(32)
    token = OperatorToken(name, hash_token(text), scopes, clock())
    if not store.add(token):
        raise TokenExists(name)
    return token, text


def revoke_token(store: TokenStore, clock: Clock, name: str) -> None:
    if not store.revoke(name, clock()):
        raise UnknownToken(name)


def authenticate(store: TokenStore, text: str) -> OperatorToken | None:
    """The active token whose text this is, or None (unknown or revoked)."""
    if not text.startswith(PREFIX) or len(text) > 128:
        return None
    wanted = hash_token(text)
    token = store.by_hash(wanted)
    # The lookup matched on the hash already; compare again in constant time
    # so no answer depends on how much of a guess was right.
    if token is None or not hmac.compare_digest(token.token_hash, wanted):
        return None
    return None if token.revoked_at is not None else token


def for_certificate(store: TokenStore, common_name: str) -> OperatorToken | None:
    """The active token a verified client certificate's CN names, or None: a
    certificate is only as good as the token it names, so revoking the token
    shuts the certificate out too (operator-api.md#tls-and-client-certificates)."""
    token = store.by_name(common_name)
    return None if token is None or token.revoked_at is not None else token
