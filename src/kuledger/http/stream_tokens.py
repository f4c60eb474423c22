"""Connect tokens for the private WebSocket: stateless, HMAC-signed, expiring.

A token names the caller's uid and API key and when it expires, signed with a
key derived from the server's secret key, so any worker of any process that
shares KULEDGER_SECRET_KEY (or the key file) verifies it without shared state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

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
        self._key = key
        self._clock = clock
        self._ttl = ttl_ms

    def issue(self, uid: str, api_key: str) -> str:
        claims = {
            "u": uid,
            "k": api_key,
            "e": self._clock() + self._ttl,
            "n": secrets.token_hex(8),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a genuine, unexpired token; None for anything else."""
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        payload, signature = token.split(".")
        try:
            given = _unb64(signature)
            raw = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(given, self._sign(payload)):
            return None
        if not isinstance(raw, dict):
            return None
        uid, key, expires = raw.get("u"), raw.get("k"), raw.get("e")
        if not (isinstance(uid, str) and isinstance(key, str)):
            return None
        if not isinstance(expires, int) or expires <= self._clock():
            return None
        return TokenClaims(uid, key, expires)

    def _sign(self, payload: str) -> bytes:
        return hmac.digest(self._key, payload.encode("ascii"), hashlib.sha256)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
