"""Sub-accounts as a master manages them over the API: create, list, enable
margin or futures, and issue, change, list and delete their API keys.

Only a master (a user without parent_uid) may call these; every sub-account
is looked up among the caller's own, so another master's sub is answered
exactly like one that does not exist (NotASubAccount)."""

from __future__ import annotations

import dataclasses
import hmac
import json
import secrets
from dataclasses import dataclass

from kuledger.domain.errors import (
    InvalidInput,
    NotAMasterAccount,
    NotASubAccount,
    UnknownUser,
    UserExists,
)
from kuledger.domain.subaccounts import (
    ACCESS,
    KEY_EXPIRY_DAYS,
    MAX_KEY_IPS,
    SubAccount,
    check_key_passphrase,
    check_password,
    check_remarks,
    check_sub_name,
    key_permissions,
)
from kuledger.domain.users import Permission, User, parse_networks
from kuledger.services.keys import changed_key, new_key
from kuledger.services.ports import (
    Clock,
    SecretBox,
    StoredKey,
    SubKeyInfo,
    UnitOfWork,
    UnitOfWorkFactory,
)


@dataclass(frozen=True, slots=True)
class NewSubAccount:
    name: str
    password: str  # checked against KuCoin's rule, never stored (no logins)
    access: str
    remarks: str | None = None


def master(uow: UnitOfWork, uid: str) -> User:
    """The caller, refused unless it is a master account."""
    user = uow.users.get([uid]).get(uid)
    if user is None:
        raise UnknownUser(uid)
    if user.parent_uid is not None:
        raise NotAMasterAccount(uid)
    return user


def create_sub(
    uow_factory: UnitOfWorkFactory, clock: Clock, parent_uid: str, new: NewSubAccount
) -> SubAccount:
    """A new user under the master, with a numeric uid as KuCoin's are."""
    check_sub_name(new.name)
    check_password(new.password)
    if new.access not in ACCESS:
        raise InvalidInput("access", "access not in the given range!")
    remarks = check_remarks(new.remarks)
    with uow_factory() as uow:
        parent = master(uow, parent_uid)
        uid = str(10**11 + secrets.randbelow(9 * 10**11))
        if uow.users.get([uid]):
            raise UserExists(uid)  # one in 9e11: the client may retry
        now = clock()
        uow.users.add(User(uid, parent.uid, parent.vip_level, parent.hf, now))
        sub = SubAccount(uid, parent.uid, new.name, remarks, new.access, created_at=now)
        uow.subaccounts.add(sub)
        uow.commit()
    return sub


def sub_account(
    uow_factory: UnitOfWorkFactory, parent_uid: str, uid: str
) -> SubAccount:
    with uow_factory() as uow:
        master(uow, parent_uid)
        return _own(uow, parent_uid, uid)


def sub_page(
    uow_factory: UnitOfWorkFactory, parent_uid: str, page: int, size: int
) -> tuple[int, list[SubAccount]]:
    """(how many sub-accounts, those of page `page` of `size`), oldest first."""
    with uow_factory() as uow:
        master(uow, parent_uid)
        total = uow.subaccounts.count(parent_uid)
        return total, uow.subaccounts.page(parent_uid, (page - 1) * size, size)


def all_subs(uow_factory: UnitOfWorkFactory, parent_uid: str) -> list[SubAccount]:
    return sub_page(uow_factory, parent_uid, 1, 2**31)[1]


def enable(
    uow_factory: UnitOfWorkFactory,
    parent_uid: str,
    uid: str,
    *,
    margin: bool = False,
    futures: bool = False,
) -> SubAccount:
    """Grant the sub-account margin or futures trading (never taken back)."""
    with uow_factory() as uow:
        master(uow, parent_uid)
        sub = _own(uow, parent_uid, uid)
        uow.subaccounts.enable(sub, margin=margin, futures=futures)
        uow.commit()
    return dataclasses.replace(
        sub, margin=sub.margin or margin, futures=sub.futures or futures
    )


def _own(uow: UnitOfWork, parent_uid: str, uid: str) -> SubAccount:
    sub = uow.subaccounts.get(parent_uid, uid)
    if sub is None:
        raise NotASubAccount(parent_uid, uid)
    return sub


def _named(uow: UnitOfWork, parent_uid: str, name: str) -> SubAccount:
    master(uow, parent_uid)
    sub = uow.subaccounts.by_name(parent_uid, name)
    if sub is None:
        raise InvalidInput("subName", f"sub-account {name!r} does not exist")
    return sub


# --- sub-account API keys ---


@dataclass(frozen=True, slots=True)
class KeyRequest:
    sub_name: str
    passphrase: str
    permission: str | None = None  # KuCoin's list: "General,Spot"
    ip_whitelist: str | None = None
    expire: str | None = None  # days; "-1" never
    remark: str | None = None


@dataclass(frozen=True, slots=True)
class SubKey:
    """A sub-account key as the API shows it; `secret` only when just made."""

    sub: SubAccount
    stored: StoredKey
    info: SubKeyInfo
    secret: str | None = None


def _permissions(text: str | None) -> frozenset[Permission]:
    return frozenset(Permission(p) for p in key_permissions(text))


def _networks(text: str | None) -> tuple[str, ...]:
    networks = parse_networks(text or "")
    if len(networks) > MAX_KEY_IPS:
        raise InvalidInput("ipWhitelist", f"at most {MAX_KEY_IPS} IPs")
    return networks


def _expire(text: str | None) -> str:
    if text is None:
        return "-1"
    if text not in KEY_EXPIRY_DAYS:
        raise InvalidInput("expire", "expire not in the given range!")
    return text


def create_sub_key(
    uow_factory: UnitOfWorkFactory,
    box: SecretBox,
    clock: Clock,
    parent_uid: str,
    request: KeyRequest,
) -> SubKey:
    """Issue a key for the sub-account, with the caller's passphrase. The
    answer is the only time its secret is seen."""
    remark = check_remarks(request.remark, "remark")
    if not remark:
        raise InvalidInput("remark", "remark is required")
    passphrase = check_key_passphrase(request.passphrase)
    permissions = _permissions(request.permission)
    networks = _networks(request.ip_whitelist)
    expire = _expire(request.expire)
    with uow_factory() as uow:
        sub = _named(uow, parent_uid, request.sub_name)
        api_key, stored = new_key(
            box,
            clock,
            uid=sub.uid,
            permissions=permissions,
            ip_whitelist=networks,
            passphrase=passphrase,
        )
        info = SubKeyInfo(api_key.key, remark, expire)
        uow.keys.add(stored)
        uow.subaccounts.put_key_info(info)
        uow.commit()
    return SubKey(sub, stored, info, api_key.secret)


def _sub_key(
    uow: UnitOfWork, box: SecretBox, parent_uid: str, request: KeyRequest, key: str
) -> tuple[SubAccount, StoredKey]:
    """The sub-account's active key `key`, once the passphrase is its own."""
    sub = _named(uow, parent_uid, request.sub_name)
    stored = uow.keys.get(key)
    if stored is None or stored.uid != sub.uid or stored.revoked_at is not None:
        raise InvalidInput("apiKey", f"api key {key!r} does not exist")
    material = json.loads(box.open(stored.sealed))
    if not hmac.compare_digest(
        material["passphrase"].encode(), request.passphrase.encode()
    ):
        raise InvalidInput("passphrase", "passphrase is not the key's")
    return sub, stored


def modify_sub_key(
    uow_factory: UnitOfWorkFactory,
    box: SecretBox,
    parent_uid: str,
    key: str,
    request: KeyRequest,
) -> SubKey:
    """Replace the key's permissions and IP whitelist (and expiry) where given."""
    permissions = _permissions(request.permission) if request.permission else None
    networks = None if request.ip_whitelist is None else _networks(request.ip_whitelist)
    expire = None if request.expire is None else _expire(request.expire)
    with uow_factory() as uow:
        sub, stored = _sub_key(uow, box, parent_uid, request, key)
        changed = changed_key(box, stored, permissions, networks)
        uow.keys.update(changed)
        old = uow.subaccounts.key_info([key]).get(key) or SubKeyInfo(key, "", "-1")
        info = SubKeyInfo(key, old.remark, expire or old.expire_days)
        uow.subaccounts.put_key_info(info)
        uow.commit()
    return SubKey(sub, changed, info)


def delete_sub_key(
    uow_factory: UnitOfWorkFactory,
    box: SecretBox,
    clock: Clock,
    parent_uid: str,
    key: str,
    request: KeyRequest,
) -> SubAccount:
    """Revoke the key: it stops working at once."""
    with uow_factory() as uow:
        sub, stored = _sub_key(uow, box, parent_uid, request, key)
        uow.keys.revoke(stored.key, clock())
        uow.commit()
    return sub


def sub_keys(
    uow_factory: UnitOfWorkFactory, parent_uid: str, sub_name: str, key: str | None
) -> list[SubKey]:
    """The sub-account's active keys (only `key`, if given), oldest first."""
    with uow_factory() as uow:
        sub = _named(uow, parent_uid, sub_name)
        stored = [
            k
            for k in uow.keys.for_user(sub.uid)
            if k.revoked_at is None and (key is None or k.key == key)
        ]
        infos = uow.subaccounts.key_info(k.key for k in stored)
    stored.sort(key=lambda k: (k.created_at, k.key))
    return [
        SubKey(sub, k, infos.get(k.key) or SubKeyInfo(k.key, "", "-1")) for k in stored
    ]
