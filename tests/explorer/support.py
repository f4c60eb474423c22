"""A real explorer to test against: a SQLite ledger with two users, their
keys and a few hundred entries, served over TCP by uvicorn in a thread (the
browser needs a socket), on the operator app exactly as `kuledger serve`
builds it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from kuledger.bootstrap import Container, build_operator_app
from kuledger.config import Settings
from kuledger.domain.users import ApiKey
from kuledger.services import keys, ledger, users
from kuledger.services.operator_tokens import Scope, create_token
from tests.support.inprocess import InProcessCli
from tests.support.server import database_env, free_port

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
ALICE_DEPOSITS = 150  # alice's main USDT: deposits and withdrawals, one an hour


@dataclass
class Site:
    url: str  # the explorer's root: http://127.0.0.1:PORT/explorer
    container: Container
    cli: InProcessCli
    operator_token: str
    post_only_token: str
    alice: ApiKey
    bob: ApiKey
    alice_usdt: str  # account ids
    bob_usdt: str
    transfer_id: str  # an operation of alice with two legs


def _seed(c: Container) -> tuple[ApiKey, ApiKey]:
    for uid in ("alice", "bob"):
        users.create_user(c.uow, c.clock, uid=uid)
    ops: list[object] = []
    for i in range(ALICE_DEPOSITS):
        at = T0 + 2 * i * HOUR
        ops.append(
            {"op": "deposit", "uid": "alice", "id": f"d{i}", "currency": "USDT",
             "amount": str(100 + i % 7), "at": at, "context": {"txId": f"0x{i:04x}"}}
        )  # fmt: skip
        ops.append(
            {"op": "withdrawal", "uid": "alice", "id": f"w{i}", "currency": "USDT",
             "amount": str(40 + i % 5), "fee": "1", "at": at + HOUR}
        )  # fmt: skip
    end = T0 + 2 * ALICE_DEPOSITS * HOUR
    ops.append(
        {"op": "transfer", "uid": "alice", "id": "t1", "currency": "USDT",
         "amount": "25", "from": "main", "to": "trade", "at": end}
    )  # fmt: skip
    ops.append(
        {"op": "deposit", "uid": "bob", "id": "b1", "currency": "USDT",
         "amount": "7", "at": T0}
    )  # fmt: skip
    ledger.apply_batch(c.uow, ops, c.clock)
    alice = keys.create_key(c.uow, c.box, c.clock, uid="alice", passphrase="alice-pass")
    bob = keys.create_key(c.uow, c.box, c.clock, uid="bob", passphrase="bob-pass")
    return alice, bob


@contextmanager
def explorer_site(workdir: Path, database_url: str | None = None) -> Iterator[Site]:
    url = database_url or f"sqlite:///{workdir / 'ledger.db'}"
    env = database_env(url, workdir)
    cli = InProcessCli(env)
    cli.run("init")
    with ExitStack() as stack:
        container = Container(Settings.from_env(env))
        stack.callback(container.close)
        alice, bob = _seed(container)
        cli.run("verify")
        _, token = create_token(
            container.operator_tokens,
            container.clock,
            name="ops",
            scopes=frozenset({Scope.READ}),
        )
        _, post_only = create_token(
            container.operator_tokens,
            container.clock,
            name="poster",
            scopes=frozenset({Scope.POST}),
        )
        accounts = {
            (a.key.uid, a.key.type.value): a.id
            for uid in ("alice", "bob")
            for a in container.reader.accounts(uid, "USDT")
        }
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                build_operator_app(container), host="127.0.0.1", port=port,
                log_level="warning", lifespan="off",
            )
        )  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(setattr, server, "should_exit", True)
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the explorer's server did not start"
            time.sleep(0.02)
        yield Site(
            f"http://127.0.0.1:{port}/explorer", container, cli, token, post_only,
            alice, bob, accounts["alice", "main"], accounts["bob", "main"], "t1",
        )  # fmt: skip
