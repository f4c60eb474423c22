"""Connect tokens for the private WebSocket: stateless, HMAC-signed, expiring.

A token names the caller's uid and API key and when it expires, signed with a
key derived from the server's secret key, so any worker of any process that
shares KULEDGER_SECRET_KEY (or the key file) verifies it without shared state.
The token is `<base64 JSON claims>.<base64 HMAC-SHA256>` (itsdangerous's
Signer, which compares signatures in constant time).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from itsdangerous import BadData, Signer
from itsdangerous.encoding import base64_decode, base64_encode

from kuledger.services.ports import Clock

TOKEN_TTL_MS = 24 * 3_600_000  # KuCoin's connect tokens are valid for 24 hours
MAX_TOKEN_CHARS = 512


@dataclass(frozen=True, slots=True)
class TokenClaims:
    uid: str
    key: str  # the API key that asked for the token
    expires_at: int  # ms since the epoch


class StreamTokens:
    def __init__(self, key: bytes, clock: Clock, ttl_ms: int = TOKEN_TTL_MS) -> None:
        # `key` is already derived for this use alone (SecretBox.derive_key),
        # so the signer takes it as it is: tokens keep their pre-itsdangerous
        # form and still verify across an upgrade.
        self._signer = Signer(key, key_derivation="none", digest_method=hashlib.sha256)
        self._clock = clock
        self._ttl = ttl_ms

    def issue(self, uid: str, api_key: str) -> str:
        claims = {
            "u": uid,
            "k": api_key,
            "e": self._clock() + self._ttl,
            "n": secrets.token_hex(8),
        }
        payload = base64_encode(json.dumps(claims, separators=(",", ":")))
        return self._signer.sign(payload).decode("ascii")

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a genuine, unexpired token; None for anything else."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            raw = json.loads(base64_decode(self._signer.unsign(token)))
        except (BadData, ValueError):
            return None
        if not isinstance(raw, dict):
            return None
        uid, key, expires = raw.get("u"), raw.get("k"), raw.get("e")
        if not (isinstance(uid, str) and isinstance(key, str)):
            return None
        if not isinstance(expires, int) or expires <= self._clock():
            return None
        return TokenClaims(uid, key, expires)
