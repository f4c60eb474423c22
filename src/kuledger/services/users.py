"""Creating users and changing their VIP level or HF mode."""

from __future__ import annotations

import secrets

from kuledger.domain.errors import InvalidInput, UnknownUser, UserExists
from kuledger.domain.users import User, check_vip_level
from kuledger.services.ports import Clock, UnitOfWorkFactory

MAX_UID_LENGTH = 64


def create_user(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    uid: str | None = None,
    parent_uid: str | None = None,
    vip_level: int = 0,
    hf: bool = False,
) -> User:
    uid = uid if uid is not None else str(10**11 + secrets.randbelow(9 * 10**11))
    if not uid or len(uid) > MAX_UID_LENGTH or not uid.isprintable() or " " in uid:
        raise InvalidInput(
            "uid",
            f"uid must be 1..{MAX_UID_LENGTH} printable characters without spaces",
        )
    user = User(uid, parent_uid, check_vip_level(vip_level), hf, clock())
    with uow_factory() as uow:
        found = uow.users.get([uid] + ([parent_uid] if parent_uid else []))
        if uid in found:
            raise UserExists(uid)
        if parent_uid is not None:
            parent = found.get(parent_uid)
            if parent is None:
                raise UnknownUser(parent_uid)
            if parent.parent_uid is not None:
                raise InvalidInput("parent", "a sub-account cannot have sub-accounts")
        uow.users.add(user)
        uow.commit()
    return user


def update_user(
    uow_factory: UnitOfWorkFactory,
    uid: str,
    *,
    vip_level: int | None = None,
    hf: bool | None = None,
) -> User:
    with uow_factory() as uow:
        user = uow.users.get([uid]).get(uid)
        if user is None:
            raise UnknownUser(uid)
        if vip_level is not None:
            user = User(
                user.uid,
                user.parent_uid,
                check_vip_level(vip_level),
                user.hf,
                user.created_at,
            )
        if hf is not None:
            user = User(user.uid, user.parent_uid, user.vip_level, hf, user.created_at)
        uow.users.update(user)
        uow.commit()
    return user
