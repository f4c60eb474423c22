"""SqlAccountInfo: the reads behind the account summary (GET /api/v2/user-info)
that the ledger reader has no query for: a master's sub-accounts and what
their live keys may do."""

from __future__ import annotations

from kuledger.services.account_info import SubAccount
from kuledger.storage.connections import ReadConnections


class SqlAccountInfo:
    def __init__(self, connections: ReadConnections, placeholder: str) -> None:
        self._db = connections
        self._ph = placeholder

    def sub_accounts(self, uid: str) -> list[SubAccount]:
        rows = self._db.rows(
            "SELECT u.uid, k.permissions FROM users u LEFT JOIN api_keys k "
            "ON k.uid = u.uid AND k.revoked_at IS NULL "
            f"WHERE u.parent_uid = {self._ph} ORDER BY u.uid",
            (uid,),
        )
        permissions: dict[str, set[str]] = {}
        for sub, granted in rows:
            permissions.setdefault(sub, set()).update((granted or "").split(","))
        return [SubAccount(s, frozenset(p - {""})) for s, p in permissions.items()]
