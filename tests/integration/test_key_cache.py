"""The Authenticator reads a key's row once while its freshness holds, and
again once it lapses: a revocation in the database then refuses the key."""

from __future__ import annotations

import time

import pytest

from kuledger.domain.users import Permission
from kuledger.http.auth import Authenticator, SignedRequest, UnknownKey
from kuledger.services import keys, users
from kuledger.services.key_freshness import TtlFreshness
from kuledger.services.ports import StoredKey
from kuledger.storage.reader import SqlLedgerReader
from kuledger_client.signing import auth_headers
from tests.conftest import make_container
from tests.support.api import accounts_request


class CountingReader(SqlLedgerReader):
    """The real reader, counting the key rows it reads."""

    reads = 0

    def api_key(self, key: str) -> StoredKey | None:
        self.reads += 1
        return super().api_key(key)


def test_a_key_row_is_read_once_while_fresh_and_again_after(sqlite_url):
    c = make_container(sqlite_url)
    reader = CountingReader(c.engine, connections=c.reader.connections)
    now = [0]
    auth = Authenticator(
        reader, c.box, c.clock, freshness=TtlFreshness(0.5, lambda: now[0])
    )
    uid = users.create_user(c.uow, c.clock).uid
    key = keys.create_key(c.uow, c.box, c.clock, uid=uid)

    def request() -> SignedRequest:
        ts = str(int(time.time() * 1000))
        headers = auth_headers(
            key.key, key.secret, key.passphrase, ts, "GET", "/api/v1/accounts", "", 3
        )
        return accounts_request(headers)

    for _ in range(3):
        assert auth.authenticate(request(), Permission.GENERAL).uid == uid
    assert reader.reads == 1
    keys.revoke_key(c.uow, c.clock, key.key)
    assert auth.authenticate(request(), Permission.GENERAL).uid == uid  # still fresh
    now[0] += 500_000_000
    with pytest.raises(UnknownKey):
        auth.authenticate(request(), Permission.GENERAL)
    assert reader.reads == 2
    c.close()
