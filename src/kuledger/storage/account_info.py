"""SqlAccountInfo: the reads behind the account summary (GET /api/v2/user-info)
and the key info (GET /api/v1/user/api-key) that the ledger reader has no
query for: a master's sub-accounts (storage/subaccounts.py's listing) and
what their live keys may do; a key's remark and its sub-account's name."""

from __future__ import annotations

from kuledger.services.account_info import SubAndKeys
from kuledger.storage.connections import ReadConnections
from kuledger.storage.subaccounts import live_sub_keys, master_subs, sub_of


class SqlAccountInfo:
    def __init__(self, connections: ReadConnections, placeholder: str) -> None:
        self._db = connections
        self._ph = placeholder

    def sub_accounts(self, uid: str) -> list[SubAndKeys]:
        keys: dict[str, set[str]] = {}
        for sub_uid, granted in self._db.stream(live_sub_keys(uid)):
            keys.setdefault(sub_uid, set()).update(granted.split(","))
        subs = [sub_of(row) for row in self._db.stream(master_subs(uid))]
        return [(s, frozenset(keys.get(s.uid, set()) - {""})) for s in subs]

    def key_labels(self, key: str, uid: str) -> tuple[str, str | None]:
        """The key's remark ("" if none) and its user's sub-account name."""
        ph = self._ph
        [(remark, name)] = self._db.rows(
            f"SELECT (SELECT remark FROM sub_api_keys WHERE key = {ph}), "
            f"(SELECT sub_name FROM sub_accounts WHERE uid = {ph})",
            (key, uid),
        )
        return remark or "", name
