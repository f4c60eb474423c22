"""Sealing API secrets at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from KULEDGER_SECRET_KEY, or a key file that `kuledger init`
creates with mode 0600. A key that is not a Fernet key is stretched with
SHA-256, so an operator may use any long random string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyError(Exception):
    """Raised when no usable secret key is configured or a seal cannot be opened."""


class FernetBox:
    def __init__(self, key_material: str) -> None:
        material = key_material.strip()
        self._material = material.encode()
        try:
            self._fernet = Fernet(material.encode())
        except ValueError:
            digest = hashlib.sha256(material.encode()).digest()
            self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose`, derived from the same key material
        (HMAC-SHA256), so every process with the secret key derives the same one
        and none of them can be used to open the seals."""
        return hmac.digest(self._material, b"kuledger:" + purpose.encode(), "sha256")

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise SecretKeyError(
                "cannot open a stored API secret: KULEDGER_SECRET_KEY (or the key "
                "file) is not the one the key was created with"
            ) from None


def create_key_file(path: Path) -> bool:
    """Write a new random key to `path` with mode 0600 unless it exists."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")
    return True


def load_box(secret_key: str | None, key_file: Path) -> FernetBox:
    if secret_key:
        return FernetBox(secret_key)
    try:
        return FernetBox(key_file.read_text())
    except FileNotFoundError:
        raise SecretKeyError(
            f"no secret key: set KULEDGER_SECRET_KEY or run `kuledger init` to "
            f"create the key file {key_file}"
        ) from None
