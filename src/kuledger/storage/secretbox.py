"""Sealing API secrets at rest with Fernet (AES-128-CBC + HMAC-SHA256), and
binding the key to the database whose secrets it seals.

The key comes from KULEDGER_SECRET_KEY, or a key file that `kuledger init`
creates with mode 0600. A key that is not a Fernet key is stretched with
SHA-256, so an operator may use any long random string.

The database records the key's fingerprint (table key_fingerprint) on the
key's first use with it; from then on a process with another key is refused
before it seals or opens anything, so one database never holds secrets sealed
with two keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.exc
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine

from kuledger.storage.engines import READ_ONLY
from kuledger.storage.schema import api_keys, key_fingerprint

SHOWN = 16  # hex digits of a fingerprint that messages show


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

    @property
    def fingerprint(self) -> str:
        """What the database records of the key: a derived key (hex), which
        tells keys apart and opens nothing."""
        return self.derive_key("fingerprint").hex()

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

    def opens(self, sealed: bytes) -> bool:
        try:
            self._fernet.decrypt(sealed)
        except InvalidToken:
            return False
        return True


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where the key is expected: KULEDGER_SECRET_KEY, else `key_file`, which
    `default_rule` chose (None: KULEDGER_SECRET_KEY_FILE did)."""

    secret_key: str
    key_file: Path
    default_rule: str | None = None

    def describe(self) -> str:
        if self.secret_key:
            return "KULEDGER_SECRET_KEY"
        return f"the key file {self.file_and_rule()}"

    def file_and_rule(self) -> str:
        path = self.key_file.absolute()
        if self.default_rule is None:
            return f"{path} (set by KULEDGER_SECRET_KEY_FILE)"
        return f"{path} ({self.default_rule}; KULEDGER_SECRET_KEY_FILE changes it)"


def create_key_file(path: Path) -> bool:
    """Write a new random key to `path` with mode 0600 unless it exists."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")
    return True


def find_box(source: KeySource) -> FernetBox | None:
    """The configured key, or None if there is none (no variable, no file)."""
    if source.secret_key:
        return FernetBox(source.secret_key)
    try:
        return FernetBox(source.key_file.read_text())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SecretKeyError(
            f"cannot read the key file {source.file_and_rule()}: {exc.strerror}"
        ) from None


def load_box(source: KeySource) -> FernetBox:
    box = find_box(source)
    if box is None:
        raise SecretKeyError(
            f"no secret key: KULEDGER_SECRET_KEY is empty and there is no key file "
            f"at {source.file_and_rule()}. Point KULEDGER_SECRET_KEY_FILE at the "
            "key file this database was set up with, or set KULEDGER_SECRET_KEY; "
            "`kuledger init` creates a key file only for a database that holds no "
            "API secrets yet"
        )
    return box


# -- the key's fingerprint in the database -----------------------------------


def recorded_fingerprint(engine: Engine) -> str | None:
    """The fingerprint the database holds; None if none yet, or if its schema
    predates the table (then `kuledger init` has yet to run)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        if not sa.inspect(conn).has_table(key_fingerprint.name):
            return None
        return _fingerprint(conn)


def _fingerprint(conn: sa.Connection) -> str | None:
    row = conn.execute(sa.select(key_fingerprint.c.fingerprint)).first()
    return None if row is None else str(row[0])


def sealed_secret_count(engine: Engine) -> int:
    """How many API keys (revoked ones too) hold a sealed secret."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(api_keys))
        return int(count.scalar_one())


def check_key(engine: Engine, box: FernetBox, source: KeySource) -> None:
    """Raise SecretKeyError if the database records another key's fingerprint."""
    stored = recorded_fingerprint(engine)
    if stored is not None and stored != box.fingerprint:
        raise SecretKeyError(_mismatch(stored, box, source))


def bind_key(engine: Engine, box: FernetBox, source: KeySource, now: int) -> bool:
    """Check `box` against the database's fingerprint, or record it if there is
    none yet; True if it was recorded now. The first time, every active key's
    secret must open with `box` (a database from before the fingerprint may
    already hold secrets sealed with another key)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        if not sa.inspect(conn).has_table(key_fingerprint.name):
            raise SecretKeyError(
                "the database schema predates the key fingerprint: run "
                "`kuledger init` to upgrade it"
            )
        stored = _fingerprint(conn)
        if stored is None:
            active = conn.execute(
                sa.select(api_keys.c.key, api_keys.c.sealed)
                .where(api_keys.c.revoked_at.is_(None))
                .order_by(api_keys.c.key)
            ).all()
            unopened = [key for key, sealed in active if not box.opens(sealed)]
            if unopened:
                raise SecretKeyError(_unopened(unopened, len(active), source))
    if stored is None:
        try:
            with engine.begin() as conn:
                conn.execute(
                    key_fingerprint.insert().values(
                        id=1, fingerprint=box.fingerprint, recorded_at=now
                    )
                )
            return True
        except sqlalchemy.exc.IntegrityError:  # another process recorded one first
            stored = recorded_fingerprint(engine)
    if stored != box.fingerprint:
        assert stored is not None
        raise SecretKeyError(_mismatch(stored, box, source))
    return False


def _mismatch(stored: str, box: FernetBox, source: KeySource) -> str:
    return (
        f"the secret key from {source.describe()} (fingerprint "
        f"{box.fingerprint[:SHOWN]}) is not the one this database's API secrets "
        f"are sealed with (fingerprint {stored[:SHOWN]}): point "
        "KULEDGER_SECRET_KEY_FILE at that key's file, or set KULEDGER_SECRET_KEY "
        "to that key"
    )


def _unopened(keys: list[str], active: int, source: KeySource) -> str:
    shown = ", ".join(keys[:3]) + (" ..." if len(keys) > 3 else "")
    return (
        f"{len(keys)} of {active} active API keys ({shown}) have secrets that the "
        f"secret key from {source.describe()} cannot open: they were sealed with "
        "another key. Configure that key (KULEDGER_SECRET_KEY_FILE or "
        "KULEDGER_SECRET_KEY), or revoke them (`kuledger keys revoke KEY`)"
    )
