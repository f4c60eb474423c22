"""Service tests on the in-memory FakeDatabase (tests/fakes.py): no SQLite,
no server. What storage itself does is tested against the real databases."""

from __future__ import annotations

import pytest

from kuledger.services import ledger
from kuledger.services import users as user_service
from tests.fakes import FakeClock, FakeDatabase


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def alice(db: FakeDatabase, clock: FakeClock) -> str:
    """A user with 100 USDT in main."""
    user_service.create_user(db, clock, uid="alice")
    deposit = {"op": "deposit", "uid": "alice", "id": "seed", "currency": "USDT"}
    ledger.apply(db, {**deposit, "amount": "100"}, clock)
    return "alice"
