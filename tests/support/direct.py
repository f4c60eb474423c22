"""Setting up a live server's database in-process (same URL and secret key as
the server), instead of one `kuledger` subprocess per user, key or post."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kuledger.bootstrap import Container
from kuledger.config import Settings
from kuledger.domain.users import Permission
from kuledger.services import keys, ledger, users
from tests.support.server import ApiUser, Server


class Direct:
    """The server's database, written through the services."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.container = Container(Settings.from_env(server.cli.env))

    def add_user(
        self,
        uid: str,
        *,
        permissions: str = "General",
        hf: bool = False,
        vip: int = 0,
    ) -> ApiUser:
        c = self.container
        users.create_user(c.uow, c.clock, uid=uid, vip_level=vip, hf=hf)
        key = keys.create_key(
            c.uow,
            c.box,
            c.clock,
            uid=uid,
            permissions=Permission.parse_list(permissions),
        )
        user = ApiUser(uid, key.key, key.secret, key.passphrase, key.key_version)
        self.server.users.setdefault(uid, user)
        return user

    def post(self, operations: list[dict[str, Any]]) -> None:
        """Apply the operations in one all-or-nothing batch."""
        ledger.apply_batch(self.container.uow, operations, self.container.clock)

    def close(self) -> None:
        self.container.close()


@contextmanager
def direct(server: Server) -> Iterator[Direct]:
    handle = Direct(server)
    try:
        yield handle
    finally:
        handle.close()
