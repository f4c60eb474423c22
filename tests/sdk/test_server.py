"""Both SDK clients against the real server: every method the server serves,
each test on KucoinClient and on AsyncKucoinClient (the `clients` fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from kuledger_client import (
    DAY_MS,
    AuthenticationError,
    BadRequestError,
    KucoinClient,
    LedgerEntry,
    NotFoundError,
    dumps,
)
from tests.sdk.clients import Clients
from tests.support.api import new_uid, now_ms
from tests.support.direct import Direct, direct
from tests.support.server import ApiUser, LiveServer


def client_for(
    clients: Clients, server: LiveServer, user: ApiUser, **options: Any
) -> KucoinClient:
    return clients(
        user.key,
        user.secret,
        user.passphrase,
        key_version=user.key_version,
        base_url=server.base_url,
        **options,
    )


def deposit(
    db: Direct,
    uid: str,
    amount: str,
    *,
    at: int,
    account: str = "main",
    currency: str = "USDT",
) -> None:
    db.post(
        [
            {
                "op": "deposit",
                "uid": uid,
                "id": f"dep-{at}-{amount}-{account}",
                "currency": currency,
                "amount": amount,
                "account": account,
                "at": at,
            }
        ]
    )


def new_user_with_deposit(
    db: Direct, amount: str, account: str, *, hf: bool = False
) -> tuple[ApiUser, int]:
    """A new user whose `account` received `amount` USDT five seconds ago, and
    the deposit's time."""
    user = db.add_user(new_uid("ledger"), hf=hf)
    at = now_ms() - 5_000
    deposit(db, user.uid, amount, at=at, account=account)
    return user, at


@pytest.fixture(scope="module")
def db(module_server: LiveServer) -> Iterator[Direct]:
    with direct(module_server) as handle:
        yield handle


@pytest.fixture
def user(db: Direct) -> ApiUser:
    return db.add_user(new_uid("sdk"), permissions="General,Spot,FlexTransfers")


@pytest.fixture
def client(
    clients: Clients, module_server: LiveServer, user: ApiUser
) -> Iterator[KucoinClient]:
    with client_for(clients, module_server, user) as c:
        yield c


def test_server_time_and_status_need_no_credentials(clients, module_server):
    with clients(base_url=module_server.base_url) as anonymous:
        assert abs(anonymous.get_server_time() - now_ms()) < 5_000
        status = anonymous.get_service_status()
    assert (status.status, status.msg) == ("open", "")


def test_account_list_detail_and_type(db, module_server, user, client):
    deposit(db, user.uid, "12.5", at=now_ms())
    [account] = client.get_spot_account_list()
    assert (account.currency, account.type) == ("USDT", "main")
    assert account.balance == account.available == Decimal("12.5")
    assert account.holds == 0
    assert account.raw["balance"] == "12.5"
    assert client.get_account_list(type="main", currency="USDT") == [account]
    assert client.get_spot_account_list(type="trade") == []
    detail = client.get_spot_account_detail(account.id)
    assert (detail.currency, detail.balance) == ("USDT", Decimal("12.5"))
    with pytest.raises(NotFoundError) as missing:
        client.get_spot_account_detail("ffffffffffffffffffffffff")
    assert missing.value.code == "230008"
    assert client.get_spot_account_type() is False
    assert client.last_rate_limit is not None
    assert client.last_rate_limit.limit == 4000  # Spot pool, VIP 0


def test_the_spot_ledger_page_is_typed_and_keeps_the_raw_item(
    db, module_server, user, client
):
    at = now_ms() - 60_000
    deposit(db, user.uid, "0.12345678", at=at, currency="ETH")
    page = client.get_spot_ledger(currency=["ETH"], start_at=at - 1000, end_at=at)
    assert (page.current_page, page.page_size, page.total_num, page.total_page) == (
        1,
        50,
        1,
        1,
    )
    [entry] = page.items
    assert (entry.amount, entry.fee, entry.balance) == (
        Decimal("0.12345678"),
        Decimal(0),
        Decimal("0.12345678"),
    )
    assert (entry.biz_type, entry.direction, entry.created_at) == ("DEPOSIT", "in", at)
    assert entry.raw["amount"] == str(entry.amount)
    assert dumps(entry.raw).startswith('{"id":')
    with pytest.raises(BadRequestError) as bad:
        client.get_spot_ledger(biz_type="Transfer")
    assert bad.value.code == "400100"


def test_a_wrong_passphrase_is_an_authentication_error(clients, module_server, user):
    with (
        clients(
            user.key, user.secret, "wrong", base_url=module_server.base_url
        ) as wrong,
        pytest.raises(AuthenticationError) as raised,
    ):
        wrong.get_spot_account_list()
    assert (raised.value.code, raised.value.status) == ("400004", 401)


def test_iter_ledger_yields_equal_timestamps_at_a_boundary_once(
    db, module_server, user, client
):
    start = now_ms() - 3 * DAY_MS
    boundary = start + DAY_MS
    ops = []
    for index, at in enumerate([boundary - 1] * 3 + [boundary] * 3 + [boundary + 5]):
        ops.append(
            {
                "op": "deposit",
                "uid": user.uid,
                "id": f"b{index}",
                "currency": "USDT",
                "amount": "1",
                "at": at,
            }
        )
    db.post(ops)
    entries = list(client.iter_ledger(start, start + 2 * DAY_MS))
    assert len(entries) == 7
    assert len({e.id for e in entries}) == 7
    oldest = list(client.iter_ledger(start, start + 2 * DAY_MS, newest_first=False))
    assert [e.id for e in oldest] == [e.id for e in reversed(entries)]


class InsertingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends requests to the server (for either client); after the first page
    of a ledger window it writes new entries at that window's head, as live
    traffic would."""

    def __init__(self, write: Callable[[int], None]) -> None:
        self._inner = httpx.HTTPTransport()
        self._async_inner = httpx.AsyncHTTPTransport()
        self._write = write
        self.pages: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self._seen(request)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._async_inner.handle_async_request(request)
        self._seen(request)
        return response

    def _seen(self, request: httpx.Request) -> None:
        if request.url.path == "/api/v1/accounts/ledgers":
            page = request.url.params["currentPage"]
            self.pages.append(page)
            if page in ("1", "2"):
                self._write(int(request.url.params["endAt"]))

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._async_inner.aclose()


def test_entries_arriving_during_the_walk_cause_no_duplicate_or_gap(
    clients, db, module_server, user
):
    start = now_ms() - 2 * DAY_MS
    first_day = [
        {
            "op": "deposit",
            "uid": user.uid,
            "id": f"old-{i}",
            "currency": "USDT",
            "amount": "1",
            "at": start + i * 60,
        }
        for i in range(1, 1201)  # three pages of 500
    ]
    db.post(first_day)
    written = iter(range(1_000_000))

    def write(window_end: int) -> None:
        db.post(
            [
                {
                    "op": "deposit",
                    "uid": user.uid,
                    "id": f"live-{next(written)}",
                    "currency": "USDT",
                    "amount": "2",
                    "at": window_end,
                }
                for _ in range(5)
            ]
        )

    transport = InsertingTransport(write)
    with client_for(clients, module_server, user, transport=transport) as c:
        got = list(c.iter_ledger(start, start + DAY_MS - 1))
    ids = [e.id for e in got]
    assert len(ids) == len(set(ids)), "an entry was yielded twice"
    amounts = [e.amount for e in got]
    assert amounts.count(Decimal(1)) == 1200, "an entry that existed was missed"
    assert transport.pages.count("1") == 1
    assert len(transport.pages) >= 3


def test_hf_ledger(clients, db, module_server):
    user, at = new_user_with_deposit(db, "3.25", "trade_hf", hf=True)
    with client_for(clients, module_server, user) as c:
        assert c.get_spot_account_type() is True
        [item] = c.get_spot_hf_ledger(start_at=at - 1000, end_at=at + 1000)
        assert isinstance(item, LedgerEntry)
        assert (item.account_type, item.amount, item.balance) == (
            "TRADE_HF",
            Decimal("3.25"),
            Decimal("3.25"),
        )
        assert item.created_at == at and isinstance(item.raw["createdAt"], str)
        walked = list(c.iter_ledger(at - DAY_MS, at + 1000, ledger="hf"))
    assert [e.id for e in walked] == [item.id]


def test_margin_hf_ledger(clients, db, module_server):
    user, at = new_user_with_deposit(db, "7", "margin_v2")
    with client_for(clients, module_server, user) as c:
        [item] = c.get_margin_hf_ledger(start_at=at - 1000, end_at=at + 1000)
        assert (item.account_type, item.amount) == ("MARGIN_V2", Decimal(7))
        assert isinstance(item.raw["id"], int)
        walked = list(c.iter_ledger(at - 1000, at + 1000, ledger="margin-hf"))
    assert [e.id for e in walked] == [item.id]


def test_futures_ledger_numbers_are_exact(clients, db, module_server):
    user, at = new_user_with_deposit(db, "0.10000001", "contract")
    with client_for(clients, module_server, user) as c:
        page = c.get_futures_ledger(currency="USDT", start_at=at - 1, end_at=at)
        [item] = page.items
        assert item.amount == Decimal("0.10000001")
        assert item.account_equity == Decimal("0.10000001")
        assert dumps(item.raw).count("0.10000001") == 2
        walked = list(
            c.iter_ledger(at - 1000, at + 1000, ledger="futures", currencies=["USDT"])
        )
    assert [e.id for e in walked] == [item.id]


def test_transfers_and_quotas(db, module_server, user, client):
    deposit(db, user.uid, "100", at=now_ms())
    quotas = client.get_transfer_quotas(currency="USDT", type="MAIN")
    assert quotas.transferable == Decimal(100)
    inner = client.inner_transfer(
        currency="USDT", amount="30", from_="main", to="trade"
    )
    assert inner.order_id
    flex = client.flex_transfer(
        currency="USDT",
        amount=Decimal("20"),
        from_account_type="MAIN",
        to_account_type="TRADE",
    )
    assert flex.order_id
    balances = {a.type: a.balance for a in client.get_spot_account_list()}
    assert balances == {"main": Decimal(50), "trade": Decimal(50)}
