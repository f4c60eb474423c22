"""The explorer's sessions: who is looking, in a signed cookie.

A login (an operator token, or a user's API key, secret and passphrase) is
exchanged for a cookie that names the viewer, signed with a key derived from
the server's secret key (so every worker accepts it) and expiring after
SESSION_TTL_S. The cookie is HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it: that and the per-session CSRF token on every
form that changes anything keep logout from being forged), Path=/explorer,
and Secure when the request came over HTTPS. It never holds a secret: the
token's SHA-256 (which opens nothing) or the API key's name, both looked up
again on every request, so a revoked token or key ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

COOKIE = "kuledger_explorer"
SESSION_TTL_S = 8 * 3600


@dataclass(frozen=True, slots=True)
class Viewer:
    """An operator (sees every user) or a user (only their own data)."""

    kind: str  # "operator" or "user"
    name: str  # the operator token's name, or the API key
    uid: str | None  # the user's uid; None for an operator
    credential: str  # the token's SHA-256, or the API key
    csrf: str

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def may_see(self, uid: str) -> bool:
        return self.is_operator or uid == self.uid

    @property
    def audit_name(self) -> str:
        return f"explorer:{self.name}" if self.is_operator else f"explorer:{self.uid}"


class Sessions:
    def __init__(self, key: bytes, max_age_s: int = SESSION_TTL_S) -> None:
        self._serializer = URLSafeTimedSerializer(
            key,
            salt="kuledger-explorer-session",
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self.max_age_s = max_age_s

    def open(
        self, kind: str, name: str, uid: str | None, credential: str
    ) -> tuple[Viewer, str]:
        viewer = Viewer(kind, name, uid, credential, secrets.token_urlsafe(18))
        claims = {"k": kind, "n": name, "u": uid, "c": credential, "x": viewer.csrf}
        return viewer, self._serializer.dumps(claims)

    def read(self, cookie: str | None) -> Viewer | None:
        """The viewer a genuine, unexpired cookie names; None otherwise."""
        if not cookie or len(cookie) > 2048:
            return None
        try:
            claims: Any = self._serializer.loads(cookie, max_age=self.max_age_s)
        except BadData:
            return None
        if not isinstance(claims, dict) or claims.get("k") not in ("operator", "user"):
            return None
        return Viewer(claims["k"], claims["n"], claims["u"], claims["c"], claims["x"])


def csrf_ok(viewer: Viewer, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(viewer.csrf, given)
