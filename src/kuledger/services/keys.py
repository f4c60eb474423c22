"""API keys: issuing, revoking, listing, and opening one for authentication."""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid

from kuledger.domain.errors import InvalidInput, UnknownApiKey, UnknownUser
from kuledger.domain.users import ApiKey, Permission
from kuledger.services.ports import Clock, SecretBox, StoredKey, UnitOfWorkFactory

KEY_VERSIONS = (1, 2, 3)


def create_key(
    uow_factory: UnitOfWorkFactory,
    box: SecretBox,
    clock: Clock,
    *,
    uid: str,
    permissions: frozenset[Permission] = frozenset({Permission.GENERAL}),
    ip_whitelist: tuple[str, ...] = (),
    key_version: int = 3,
    passphrase: str | None = None,
) -> ApiKey:
    """Issue a key. The returned ApiKey is the only time the secret is seen."""
    api_key, stored = new_key(
        box,
        clock,
        uid=uid,
        permissions=permissions,
        ip_whitelist=ip_whitelist,
        key_version=key_version,
        passphrase=passphrase,
    )
    with uow_factory() as uow:
        if uid not in uow.users.get([uid]):
            raise UnknownUser(uid)
        uow.keys.add(stored)
        uow.commit()
    return api_key


def new_key(
    box: SecretBox,
    clock: Clock,
    *,
    uid: str,
    permissions: frozenset[Permission],
    ip_whitelist: tuple[str, ...] = (),
    key_version: int = 3,
    passphrase: str | None = None,
) -> tuple[ApiKey, StoredKey]:
    """A new key and its stored (sealed) row, for the caller to add in its
    own transaction."""
    if key_version not in KEY_VERSIONS:
        raise InvalidInput("key-version", "key version must be 1, 2 or 3")
    if not permissions:
        raise InvalidInput("permissions", "a key needs at least one permission")
    api_key = ApiKey(
        key=secrets.token_hex(12),
        uid=uid,
        secret=str(uuid.uuid4()),
        passphrase=passphrase or secrets.token_urlsafe(12),
        permissions=permissions,
        ip_whitelist=ip_whitelist,
        key_version=key_version,
        created_at=clock(),
    )
    sealed = box.seal(
        json.dumps(
            {"secret": api_key.secret, "passphrase": api_key.passphrase}
        ).encode()
    )
    stored = StoredKey(
        api_key.key,
        uid,
        sealed,
        ",".join(sorted(permissions)),
        ",".join(ip_whitelist),
        key_version,
        api_key.created_at,
        None,
    )
    return api_key, stored


def revoke_key(uow_factory: UnitOfWorkFactory, clock: Clock, key: str) -> None:
    with uow_factory() as uow:
        if not uow.keys.revoke(key, clock()):
            raise UnknownApiKey(key)
        uow.commit()


def update_key(
    uow_factory: UnitOfWorkFactory,
    box: SecretBox,
    key: str,
    *,
    permissions: frozenset[Permission] | None = None,
    ip_whitelist: tuple[str, ...] | None = None,
) -> StoredKey:
    """Change an active key's permissions or IP whitelist. The secret material
    is sealed anew: the servers' key caches are keyed by the sealed bytes, so
    every worker sees the change on the key's next request."""
    if permissions is not None and not permissions:
        raise InvalidInput("permissions", "a key needs at least one permission")
    with uow_factory() as uow:
        stored = uow.keys.get(key)
        if stored is None or stored.revoked_at is not None:
            raise UnknownApiKey(key)
        changed = changed_key(box, stored, permissions, ip_whitelist)
        uow.keys.update(changed)
        uow.commit()
    return changed


def changed_key(
    box: SecretBox,
    stored: StoredKey,
    permissions: frozenset[Permission] | None,
    ip_whitelist: tuple[str, ...] | None,
) -> StoredKey:
    """The key row with new permissions or whitelist (None: unchanged), its
    secret material sealed anew."""
    return dataclasses.replace(
        stored,
        sealed=box.seal(box.open(stored.sealed)),
        permissions=stored.permissions
        if permissions is None
        else ",".join(sorted(permissions)),
        ip_whitelist=stored.ip_whitelist
        if ip_whitelist is None
        else ",".join(ip_whitelist),
    )


def list_keys(uow_factory: UnitOfWorkFactory, uid: str) -> list[StoredKey]:
    with uow_factory() as uow:
        if uid not in uow.users.get([uid]):
            raise UnknownUser(uid)
        return uow.keys.for_user(uid)


def open_key(stored: StoredKey, box: SecretBox) -> ApiKey:
    """Unseal a stored key's secret and passphrase for signature checks."""
    material = json.loads(box.open(stored.sealed))
    return ApiKey(
        key=stored.key,
        uid=stored.uid,
        secret=material["secret"],
        passphrase=material["passphrase"],
        permissions=Permission.parse_list(stored.permissions),
        ip_whitelist=tuple(filter(None, stored.ip_whitelist.split(","))),
        key_version=stored.key_version,
        created_at=stored.created_at,
        revoked=stored.revoked_at is not None,
    )
