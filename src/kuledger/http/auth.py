"""KuCoin's HMAC authentication: a request either yields a Principal or raises.

Check order: headers present → key version → key → timestamp → signature →
passphrase → IP whitelist → permission. KuCoin's gateway checks the passphrase
before the signature (kucoin-api-spec.md 5); that tells a guesser without the
secret when a passphrase guess is right, so here the signature answers first,
and only a caller who holds the secret learns anything about the passphrase.
Both are computed for every request, an unknown key costs the same HMAC work as
a known one, and every comparison is constant-time.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, unquote_plus

from kuledger.domain.errors import UnreadableSecret
from kuledger.domain.users import ApiKey, Permission
from kuledger.services.key_cache import KeyCache
from kuledger.services.keys import open_key
from kuledger.services.ports import Clock, LedgerReader, SecretBox, StoredKey
from kuledger_client import signing

_log = logging.getLogger("kuledger.auth")

_TIMESTAMP = re.compile(r"[0-9]{1,16}")  # ASCII only: isdigit() takes "²" too
KEY_VERSIONS = (None, "1", "2", "3")
REQUIRED_HEADERS = (
    "kc-api-key",
    "kc-api-sign",
    "kc-api-timestamp",
    "kc-api-passphrase",
)


class AuthError(Exception):
    """Base of authentication and authorization failures at the edge."""

    message = "authentication failed"
    headers: dict[str, str] | None = None  # gw-ratelimit-* of the failure's charge

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class MissingAuthHeaders(AuthError):
    message = (
        "Please check the header of your request for KC-API-KEY, KC-API-SIGN, "
        "KC-API-TIMESTAMP, KC-API-PASSPHRASE"
    )


class InvalidTimestamp(AuthError):
    message = "Invalid KC-API-TIMESTAMP"


class UnknownKey(AuthError):
    message = "KC-API-KEY not exists"


class InvalidPassphrase(AuthError):
    message = "Invalid KC-API-PASSPHRASE"


class InvalidSignature(AuthError):
    message = "Invalid KC-API-SIGN"


class InvalidKeyVersion(AuthError):
    message = "Invalid KC-API-KEY-VERSION"


class ForbiddenIp(AuthError):
    message = "Invalid request ip, the current client IP is: {ip}"


class PermissionDenied(AuthError):
    message = "Access denied, requires more permission."


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's owner and what the key may do."""

    uid: str
    key: str
    permissions: frozenset[Permission]
    vip_level: int = 0


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of a request the signature covers, exactly as received."""

    headers: dict[str, str]  # lowercase names
    method: str
    raw_path: str
    query_string: str
    body: str
    client_ip: str | None

    def prehash_paths(self) -> tuple[str, ...]:
        """The path+query as received, then percent-decoded: clients sign the
        un-encoded query but may send it encoded (kucoin-clients.md 0.3)."""
        path, query = self.raw_path, self.query_string
        raw = f"{path}?{query}" if query else path
        if "%" not in raw and "+" not in query:
            return (raw,)  # nothing to decode: the three forms are one
        decoded = f"{unquote(path)}?{unquote(query)}" if query else unquote(path)
        plus = f"{unquote(path)}?{unquote_plus(query)}" if query else decoded
        return tuple(dict.fromkeys((raw, decoded, plus)))


class Authenticator:
    def __init__(
        self,
        reader: LedgerReader,
        box: SecretBox,
        clock: Clock,
        tolerance_ms: int = 5000,
        cache_size: int = 1024,
        rows: KeyCache | None = None,
    ) -> None:
        """`rows`: the worker's cache of key rows (None: each request reads
        its key's row; see services/key_cache.py)."""
        self._reader = reader
        self._rows = rows
        self._box = box
        self._clock = clock
        self._tolerance = tolerance_ms
        self._cache: OrderedDict[tuple[str, bytes], ApiKey] = OrderedDict()
        self._cache_size = cache_size
        self._vip_levels: dict[str, int] = {}
        self._decoy = ApiKey(
            "", "", secrets.token_hex(18), secrets.token_hex(8), frozenset(), (), 3, 0
        )

    def authenticate(
        self, request: SignedRequest, permission: Permission | None
    ) -> Principal:
        h = request.headers
        if any(not h.get(name) for name in REQUIRED_HEADERS):
            raise MissingAuthHeaders()
        version = h.get("kc-api-key-version")
        if version not in KEY_VERSIONS:
            raise InvalidKeyVersion()
        key = self._load(h["kc-api-key"])
        checked = key or self._decoy  # same work for unknown keys
        passphrase_ok = self._passphrase_matches(checked, version, h)
        signature_ok = self._signature_matches(checked, request)
        if key is None:
            raise UnknownKey()
        self._check_timestamp(h["kc-api-timestamp"])
        if not signature_ok:
            raise InvalidSignature()
        if not passphrase_ok:
            raise InvalidPassphrase()
        if not key.allows_ip(request.client_ip):
            raise ForbiddenIp(ForbiddenIp.message.format(ip=request.client_ip))
        if permission is not None and permission not in key.permissions:
            raise PermissionDenied()
        return Principal(
            key.uid, key.key, key.permissions, self._vip_levels.get(key.key, 0)
        )

    def _load(self, name: str) -> ApiKey | None:
        stored = self._stored(name) if len(name) <= 64 else None
        if stored is None or stored.revoked_at is not None:
            return None
        self._vip_levels[stored.key] = stored.vip_level
        cache_key = (stored.key, stored.sealed)
        found = self._cache.get(cache_key)
        if found is None:
            try:
                found = open_key(stored, self._box)
            except UnreadableSecret:
                # Changed behind the running server's back (serve refuses to
                # start on such a row): the key is unusable, and the log says why.
                _log.error(
                    "API key %s: its secret does not open with the secret key", name
                )
                return None
            self._cache[cache_key] = found
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found

    def _stored(self, name: str) -> StoredKey | None:
        if self._rows is None:
            return self._reader.api_key(name)
        return self._rows.get(name, self._reader.api_key)

    def _check_timestamp(self, value: str) -> None:
        if not _TIMESTAMP.fullmatch(value):
            raise InvalidTimestamp()
        if abs(self._clock() - int(value)) > self._tolerance:
            raise InvalidTimestamp()

    def _passphrase_matches(
        self, key: ApiKey, version: str | None, headers: dict[str, str]
    ) -> bool:
        """The header names the form of the passphrase: `1` the plain one, `2`
        and `3` the HMAC'ed one; absent, the key's own version decides. Keys of
        version 2 and 3 never take the plain form, so with `1` they are refused
        whatever is sent; a version-1 key takes either form (ccxt always sends
        `2` and the HMAC'ed form)."""
        hashed = version in ("2", "3") or (version is None and key.key_version != 1)
        expected = _expected_passphrase(key.secret, key.passphrase, hashed)
        matched = signing.equal(expected, headers["kc-api-passphrase"])
        return matched and (key.key_version == 1 or hashed)

    def _signature_matches(self, key: ApiKey, request: SignedRequest) -> bool:
        given = request.headers["kc-api-sign"]
        timestamp = request.headers["kc-api-timestamp"]
        matched = False
        for path in request.prehash_paths():
            expected = signing.sign(
                key.secret, timestamp, request.method, path, request.body
            )
            matched |= signing.equal(expected, given)
        return matched


@lru_cache(maxsize=1024)
def _expected_passphrase(secret: str, passphrase: str, hashed: bool) -> str:
    """The KC-API-PASSPHRASE a key expects: an HMAC per request otherwise."""
    return signing.sign_passphrase(secret, passphrase, 2 if hashed else 1)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]
) -> str | None:
    """The caller's address: the peer, or, when the peer is a trusted proxy, the
    right-most X-Forwarded-For address that is not itself a trusted proxy."""
    if peer is None or not forwarded_for or not _in_networks(peer, trusted):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not _in_networks(hop, trusted):
            return hop
    return peer


def _in_networks(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)
