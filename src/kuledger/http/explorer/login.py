"""Checking what a login form brings, before a session is opened.

An operator logs in with a token that has the `read` scope. A user logs in
with an API key, its secret and its passphrase, checked as the KuCoin
authentication checks a request (http/auth.py): an unknown key costs the
same work as a known one (a decoy is compared), every comparison is
constant-time, a revoked key or an address outside the key's whitelist is
refused, and the answer never says which part was wrong."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from kuledger.domain.errors import UnreadableSecret
from kuledger.domain.users import ApiKey
from kuledger.services.keys import open_key
from kuledger.services.operator_tokens import OperatorToken, Scope, TokenStore
from kuledger.services.operator_tokens import authenticate as token_of
from kuledger.services.ports import LedgerReader, SecretBox
from kuledger_client import signing

MAX_FIELD = 256  # characters of any login field


class LoginRefused(Exception):
    """The login was not accepted; the message says so without saying why."""


@dataclass(frozen=True, slots=True)
class KeyLogin:
    key: str
    secret: str
    passphrase: str


def operator_login(tokens: TokenStore, text: str) -> OperatorToken:
    token = token_of(tokens, text.strip())
    if token is None:
        raise LoginRefused("unknown or revoked operator token")
    if Scope.READ not in token.scopes:
        raise LoginRefused("this token lacks the read scope")
    return token


_DECOY = ApiKey(
    "", "", secrets.token_hex(18), secrets.token_hex(8), frozenset(), (), 3, 0
)


def key_login(
    reader: LedgerReader, box: SecretBox, login: KeyLogin, client_ip: str | None
) -> ApiKey:
    refused = LoginRefused("wrong API key, secret or passphrase")
    if max(len(login.key), len(login.secret), len(login.passphrase)) > MAX_FIELD:
        raise refused
    key = _load(reader, box, login.key)
    checked = key or _DECOY  # the same comparisons for an unknown key
    secret_ok = signing.equal(checked.secret, login.secret)
    passphrase_ok = signing.equal(checked.passphrase, login.passphrase)
    if key is None or not (secret_ok and passphrase_ok):
        raise refused
    if not key.allows_ip(client_ip):
        raise LoginRefused("this API key is not allowed from your address")
    return key


def _load(reader: LedgerReader, box: SecretBox, name: str) -> ApiKey | None:
    stored = reader.api_key(name) if 0 < len(name) <= 64 else None
    if stored is None or stored.revoked_at is not None:
        return None
    try:
        return open_key(stored, box)
    except UnreadableSecret:
        return None


def key_active(reader: LedgerReader, key: str, uid: str | None) -> bool:
    """Whether a session's API key is still the user's and not revoked."""
    stored = reader.api_key(key)
    return stored is not None and stored.revoked_at is None and stored.uid == uid


def token_active(tokens: TokenStore, token_hash: str) -> bool:
    token = tokens.by_hash(token_hash)
    return (
        token is not None
        and token.revoked_at is None
        and Scope.READ in token.scopes
        and secrets.compare_digest(token.token_hash, token_hash)
    )
