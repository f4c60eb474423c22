"""SqlSubAccountStore: a master's sub-accounts (users LEFT JOIN sub_accounts,
so a sub the operator made without a name is listed too, under its uid) and
the extra fields of sub-account API keys. `master_subs` and `live_sub_keys`
are the one listing, which the read side's SqlAccountInfo runs too."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from kuledger.domain.errors import SubNameTaken
from kuledger.domain.subaccounts import SubAccount
from kuledger.services.ports import SubKeyInfo
from kuledger.storage import schema

_users, _subs, _keys = schema.users, schema.sub_accounts, schema.sub_api_keys
_api_keys = schema.api_keys
_name = sa.func.coalesce(_subs.c.sub_name, _users.c.uid)
_SELECT = sa.select(
    _users.c.uid,
    _users.c.parent_uid,
    _name.label("sub_name"),
    sa.func.coalesce(_subs.c.remarks, "").label("remarks"),
    sa.func.coalesce(_subs.c.access, "Spot").label("access"),
    sa.func.coalesce(_subs.c.margin, sa.false()).label("margin"),
    sa.func.coalesce(_subs.c.futures, sa.false()).label("futures"),
    _users.c.created_at,
).select_from(_users.outerjoin(_subs, _subs.c.uid == _users.c.uid))


def master_subs(parent_uid: str) -> sa.Select[Any]:
    """The master's sub-accounts, oldest first (created_at, then uid)."""
    return _SELECT.where(_users.c.parent_uid == parent_uid).order_by(
        _users.c.created_at, _users.c.uid
    )


def live_sub_keys(parent_uid: str) -> sa.Select[Any]:
    """(uid, permissions) of each live key of the master's sub-accounts."""
    return (
        sa.select(_api_keys.c.uid, _api_keys.c.permissions)
        .join(_users, _users.c.uid == _api_keys.c.uid)
        .where(_users.c.parent_uid == parent_uid, _api_keys.c.revoked_at.is_(None))
    )


def sub_of(row: Any) -> SubAccount:
    return SubAccount(
        row.uid,
        row.parent_uid,
        row.sub_name,
        row.remarks,
        row.access,
        bool(row.margin),
        bool(row.futures),
        row.created_at,
    )


class SqlSubAccountStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._conn = connection

    def add(self, sub: SubAccount) -> None:
        if self.by_name(sub.parent_uid, sub.name) is not None:
            raise SubNameTaken(sub.name)
        try:  # a concurrent creation of the same name (PostgreSQL)
            self._conn.execute(_subs.insert().values(**_row(sub)))
        except sa.exc.IntegrityError:
            raise SubNameTaken(sub.name) from None

    def get(self, parent_uid: str, uid: str) -> SubAccount | None:
        row = self._conn.execute(
            _SELECT.where(_users.c.parent_uid == parent_uid, _users.c.uid == uid)
        ).first()
        return None if row is None else sub_of(row)

    def by_name(self, parent_uid: str, name: str) -> SubAccount | None:
        row = self._conn.execute(
            _SELECT.where(_users.c.parent_uid == parent_uid, _name == name)
        ).first()
        return None if row is None else sub_of(row)

    def count(self, parent_uid: str) -> int:
        query = sa.select(sa.func.count()).where(_users.c.parent_uid == parent_uid)
        return int(self._conn.execute(query).scalar_one())

    def page(self, parent_uid: str, offset: int, limit: int) -> list[SubAccount]:
        query = master_subs(parent_uid).offset(offset).limit(limit)
        return [sub_of(row) for row in self._conn.execute(query)]

    def enable(self, sub: SubAccount, *, margin: bool, futures: bool) -> None:
        changed = {"margin": sub.margin or margin, "futures": sub.futures or futures}
        updated = self._conn.execute(
            _subs.update().where(_subs.c.uid == sub.uid).values(**changed)
        )
        if updated.rowcount == 0:  # an operator-made sub: give it its row now
            self._conn.execute(_subs.insert().values(**{**_row(sub), **changed}))

    def put_key_info(self, info: SubKeyInfo) -> None:
        self._conn.execute(_keys.delete().where(_keys.c.key == info.key))
        self._conn.execute(
            _keys.insert().values(
                key=info.key, remark=info.remark, expire_days=info.expire_days
            )
        )

    def key_info(self, keys: Iterable[str]) -> dict[str, SubKeyInfo]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = self._conn.execute(sa.select(_keys).where(_keys.c.key.in_(wanted)))
        return {r.key: SubKeyInfo(r.key, r.remark, r.expire_days) for r in rows}


def _row(sub: SubAccount) -> dict[str, Any]:
    return {
        "uid": sub.uid,
        "parent_uid": sub.parent_uid,
        "sub_name": sub.name,
        "remarks": sub.remarks,
        "access": sub.access,
        "margin": sub.margin,
        "futures": sub.futures,
        "created_at": sub.created_at,
    }
