"""SqlAccountInfo: the reads behind the account summary (GET /api/v2/user-info)
and the key info (GET /api/v1/user/api-key) that the ledger reader has no
query for: a master's sub-accounts with their margin/futures flags and what
their live keys may do; a key's remark and its sub-account's name."""

from __future__ import annotations

from kuledger.services.account_info import SubAccount
from kuledger.storage.connections import ReadConnections


class SqlAccountInfo:
    def __init__(self, connections: ReadConnections, placeholder: str) -> None:
        self._db = connections
        self._ph = placeholder

    def sub_accounts(self, uid: str) -> list[SubAccount]:
        rows = self._db.rows(
            "SELECT u.uid, k.permissions, s.margin, s.futures FROM users u "
            "LEFT JOIN api_keys k ON k.uid = u.uid AND k.revoked_at IS NULL "
            "LEFT JOIN sub_accounts s ON s.uid = u.uid "
            f"WHERE u.parent_uid = {self._ph} ORDER BY u.uid",
            (uid,),
        )
        permissions: dict[str, set[str]] = {}
        for sub, granted, margin, futures in rows:
            found = permissions.setdefault(sub, set())
            found.update((granted or "").split(","))
            found.update(("Margin",) if margin else (), ("Futures",) if futures else ())
        return [SubAccount(s, frozenset(p - {""})) for s, p in permissions.items()]

    def key_labels(self, key: str, uid: str) -> tuple[str, str | None]:
        """The key's remark ("" if none) and its user's sub-account name."""
        ph = self._ph
        [(remark, name)] = self._db.rows(
            f"SELECT (SELECT remark FROM sub_api_keys WHERE key = {ph}), "
            f"(SELECT sub_name FROM sub_accounts WHERE uid = {ph})",
            (key, uid),
        )
        return remark or "", name
