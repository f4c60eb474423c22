"""KuCoin request signing, standard library only: the SDK signs with it and the
server checks signatures with it, so both always agree.

    prehash    = KC-API-TIMESTAMP + METHOD + path[?query] + body
    KC-API-SIGN = base64(HMAC-SHA256(secret, prehash))
    passphrase (key version 2 and 3) = base64(HMAC-SHA256(secret, passphrase))
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def prehash(timestamp: str, method: str, path_and_query: str, body: str = "") -> str:
    """The string KuCoin signs. GET/DELETE put the query in the path; POST the body."""
    return f"{timestamp}{method.upper()}{path_and_query}{body}"


def hmac_b64(secret: str, message: str) -> str:
    """base64(HMAC-SHA256(secret, message)): KuCoin's signs and passphrases."""
    # surrogateescape: a body that is not UTF-8 reaches the server's check as
    # U+DC80..U+DCFF escapes; they hash as the original bytes, never raise.
    data = message.encode("utf-8", "surrogateescape")
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign(
    secret: str, timestamp: str, method: str, path_and_query: str, body: str = ""
) -> str:
    """The KC-API-SIGN header value."""
    return hmac_b64(secret, prehash(timestamp, method, path_and_query, body))


def sign_passphrase(secret: str, passphrase: str, key_version: int) -> str:
    """The KC-API-PASSPHRASE header value: HMAC'ed for key versions 2 and 3."""
    return passphrase if key_version == 1 else hmac_b64(secret, passphrase)


def auth_headers(
    key: str,
    secret: str,
    passphrase: str,
    timestamp: str,
    method: str,
    path_and_query: str,
    body: str = "",
    key_version: int = 3,
) -> dict[str, str]:
    """Every header a signed KuCoin request carries."""
    headers = {
        "KC-API-KEY": key,
        "KC-API-SIGN": sign(secret, timestamp, method, path_and_query, body),
        "KC-API-TIMESTAMP": timestamp,
        "KC-API-PASSPHRASE": sign_passphrase(secret, passphrase, key_version),
    }
    if key_version != 1:
        headers["KC-API-KEY-VERSION"] = str(key_version)
    return headers


def equal(a: str, b: str) -> bool:
    """Constant-time comparison of two header values."""
    return hmac.compare_digest(a.encode(), b.encode())
