"""OperatorClient and AsyncOperatorClient against the operator API in process:
one test body runs each flavour (the async client through tests/sdk/clients.py's
Blocking face). Retries use a MockTransport and an injected sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from kuledger_client import (
    AsyncOperatorClient,
    AuthenticationError,
    BadRequestError,
    KucoinError,
    NotFoundError,
    OperatorClient,
    ServerError,
)
from tests.operator.support import CheckedTransport, OperatorApi
from tests.operator.test_operations import deposit, new_uid, withdrawal
from tests.sdk.clients import FLAVOURS, Blocking

Make = Callable[..., OperatorClient]


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(op: OperatorApi, flavour: str) -> Iterator[Make]:
    made: list[Any] = []

    def new(token: str | None = None, **options: Any) -> OperatorClient:
        token = token or op.token()
        options.setdefault("base_url", "http://testserver")
        client: Any
        if flavour == "sync":
            options.setdefault("transport", op.http._transport)
            client = OperatorClient(token, **options)
        else:
            checked = CheckedTransport(httpx.ASGITransport(op.app))
            options.setdefault("transport", checked)
            if "sleep" in options:
                blocking_sleep = options["sleep"]

                async def sleep(seconds: float) -> None:
                    blocking_sleep(seconds)

                options["sleep"] = sleep
            client = Blocking(AsyncOperatorClient(token, **options))
        made.append(client)
        return client  # type: ignore[no-any-return]

    yield new
    for client in made:
        client.close()


def test_operations_one_batch_and_read_back(op: OperatorApi, make: Make):
    client = make()
    uid = client.create_user(new_uid(), vip_level=1).uid
    result = client.post_operation(
        deposit(uid, "c1", Decimal("10.50"), at=1_700_000_000_000)
    )
    assert result.replayed is False and len(result.entry_ids) == 1
    replay = deposit(uid, "c1", "10.5", at=1_700_000_000_000)
    assert client.post_operation(replay).replayed is True
    batch = client.post_operations(
        [deposit(uid, "c2", "1"), withdrawal(uid, "c3", "100")]
    )
    assert (batch.accepted, batch.rejected) == (1, 1)
    assert batch.items[0].ok and not batch.items[1].ok
    assert batch.items[1].code == "200004"
    status = client.get_operation(uid, "c1")
    assert status.status == "applied" and status.entries[0].balance == Decimal("10.5")
    assert status.entries[0].id == result.entry_ids[0]
    with pytest.raises(NotFoundError):
        client.get_operation(uid, "c3")
    with pytest.raises(KucoinError) as refused:
        client.post_operations(
            [deposit(uid, "c4", "1"), withdrawal(uid, "c5", "1000")], atomic=True
        )
    assert refused.value.code == "200004" and "operation 1" in refused.value.msg
    [now] = client.get_balances(uid)
    assert (now.balance, now.available, now.holds) == (
        Decimal("11.5"),
        Decimal("11.5"),
        Decimal("0"),
    )
    [then] = client.get_balances(uid, at=1_700_000_000_000)
    assert then.balance == Decimal("10.5") and then.available is None
    with pytest.raises(BadRequestError, match="already used"):
        client.post_operation(deposit(uid, "c1", "99"))


def test_users_keys_and_verify(op: OperatorApi, make: Make):
    client = make()
    uid = client.create_user(new_uid()).uid
    assert client.get_user(uid).uid == uid
    assert uid in [u.uid for u in client.list_users(after=uid[:-1], limit=500).users]
    key = client.create_api_key(uid, permissions=["General", "Spot"])
    assert key.secret and key.passphrase and key.secret not in repr(key)
    changed = client.update_api_key(key.key, ip_whitelist=["10.0.0.1"])
    assert changed.ip_whitelist == ("10.0.0.1/32",)
    assert [k.key for k in client.list_api_keys(uid)] == [key.key]
    client.revoke_api_key(key.key)
    assert client.list_api_keys(uid)[0].revoked_at is not None
    status = client.get_verify_status()
    assert status.accounts >= status.checkpointed


def test_a_token_without_the_scope_raises_authentication_error(
    op: OperatorApi, make: Make
):
    client = make(op.token("read"))
    with pytest.raises(AuthenticationError) as refused:
        client.post_operation(deposit(new_uid(), "x", "1"))
    assert refused.value.code == "400007" and refused.value.status == 403
    with pytest.raises(AuthenticationError, match="400003"):
        make("kuop_nope").get_verify_status()


def test_operations_are_retried_and_creations_are_not(op: OperatorApi, make: Make):
    seen: list[str] = []
    replies = iter(
        [
            httpx.Response(500, json={"code": "500000", "msg": "down"}),
            httpx.ConnectError("refused"),
            httpx.Response(
                200,
                json={
                    "code": "200000",
                    "data": {
                        "uid": "u",
                        "id": "r1",
                        "op": "deposit",
                        "entries": ["7"],
                        "createdAt": 1,
                        "replayed": True,
                    },
                },
            ),
        ]
    )

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        assert request.headers["authorization"] == "Bearer kuop_t"
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    slept: list[float] = []
    client = make(
        "kuop_t",
        transport=httpx.MockTransport(handle),
        sleep=slept.append,
        jitter=lambda: 1.0,
    )
    result = client.post_operation(deposit("u", "r1", "1"))
    assert result.entry_ids == (7,) and len(seen) == 3 and slept == [0.25, 0.5]
    replies = iter([httpx.Response(500, json={"code": "500000", "msg": "down"})])
    with pytest.raises(ServerError):
        client.create_user("someone")
    assert len(seen) == 4 and len(slept) == 2
