"""The test process's own view of a live server's database: users and keys
created, and entries and accounts read, the way the CLI does it but without
starting a `kuledger` process (a second or more each, more under load).

Reads come out exactly as `kuledger ledger|accounts --uid UID --json` prints
them; `cli_agrees` checks that.
"""

from __future__ import annotations

from typing import Any

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.http.wire import account_item, entry_row, spot_ledger_item
from kuledger.services.keys import create_key
from kuledger.services.users import create_user
from tests.support.server import ApiUser, Server

Item = dict[str, Any]
_CONTAINERS: dict[str, Container] = {}


def container(server: Server) -> Container:
    """What the CLI builds from its environment, built once per database."""
    url = server.cli.env["KULEDGER_DATABASE_URL"]
    if url not in _CONTAINERS:
        _CONTAINERS[url] = Container(Settings.from_env(server.cli.env))
    return _CONTAINERS[url]


def close_all() -> None:
    for built in _CONTAINERS.values():
        built.close()
    _CONTAINERS.clear()


def add_user(
    server: Server,
    uid: str,
    *,
    permissions: str = "General",
    parent: str | None = None,
    hf: bool = False,
) -> ApiUser:
    """`kuledger users create` then `kuledger keys create`."""
    c = container(server)
    create_user(c.uow, c.clock, uid=uid, parent_uid=parent, hf=hf)
    return add_key(server, uid, permissions=permissions)


def add_key(server: Server, uid: str, *, permissions: str) -> ApiUser:
    c = container(server)
    key = create_key(
        c.uow, c.box, c.clock, uid=uid, permissions=Permission.parse_list(permissions)
    )
    user = ApiUser(uid, key.key, key.secret, key.passphrase, key.key_version)
    server.users.setdefault(uid, user)
    return user


def db_ledger(server: Server, uid: str) -> list[Item]:
    """Every entry of a user, newest first (createdAt, then id, descending)."""
    reader = container(server).reader
    return [spot_ledger_item(entry_row(e)) for e in reader.entries(uid)]


def db_accounts(server: Server, uid: str) -> dict[tuple[str, str], Item]:
    """A user's accounts by (type, currency)."""
    rows = [account_item(a) for a in container(server).reader.accounts(uid)]
    return {(a["type"], a["currency"]): a for a in rows}


def balance(server: Server, uid: str, type_: str, currency: str = "USDT") -> str:
    """One account's balance as text, "0" if it has none."""
    found = db_accounts(server, uid).get((type_, currency))
    return found["balance"] if found else "0"


def cli_agrees(server: Server, uid: str) -> None:
    """The direct reads equal what the CLI prints."""
    assert server.cli.json("ledger", "--uid", uid, "--json") == db_ledger(server, uid)
    accounts = server.cli.json("accounts", "--uid", uid, "--json")
    by_key = {(a["type"], a["currency"]): a for a in accounts}
    assert by_key == db_accounts(server, uid)
