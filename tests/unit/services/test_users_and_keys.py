"""Users (uids, sub-accounts, VIP and HF) and API keys (issue, list, revoke,
open)."""

from __future__ import annotations

import pytest

from kuledger.domain.errors import InvalidInput, UnknownApiKey, UnknownUser, UserExists
from kuledger.domain.users import Permission, User
from kuledger.services import keys as key_service
from kuledger.services import users as user_service
from tests.fakes import FakeDatabase, PlainBox


def test_a_user_is_created_with_the_clocks_time(db, clock):
    user = user_service.create_user(db, clock, uid="u1", vip_level=3, hf=True)
    assert user == User("u1", None, 3, True, clock())
    assert db.state.users["u1"] == user


def test_without_a_uid_one_of_twelve_digits_is_drawn(db, clock):
    user = user_service.create_user(db, clock)
    assert user.uid.isdigit() and len(user.uid) == 12


@pytest.mark.parametrize("uid", ["", "a b", "x" * 65, "tab\there"])
def test_a_uid_must_be_short_printable_and_without_spaces(db, clock, uid):
    with pytest.raises(InvalidInput) as caught:
        user_service.create_user(db, clock, uid=uid)
    assert caught.value.field == "uid"
    assert db.commits == 0


def test_a_uid_of_the_longest_length_is_fine(db, clock):
    assert user_service.create_user(db, clock, uid="x" * 64).uid == "x" * 64


def test_a_uid_is_taken_once(db, clock):
    user_service.create_user(db, clock, uid="u1")
    with pytest.raises(UserExists):
        user_service.create_user(db, clock, uid="u1")


def test_a_sub_account_needs_a_parent_that_is_not_a_sub_account(db, clock):
    with pytest.raises(UnknownUser):
        user_service.create_user(db, clock, uid="s1", parent_uid="nobody")
    user_service.create_user(db, clock, uid="parent")
    sub = user_service.create_user(db, clock, uid="s1", parent_uid="parent")
    assert sub.parent_uid == "parent"
    with pytest.raises(InvalidInput) as caught:
        user_service.create_user(db, clock, uid="s2", parent_uid="s1")
    assert caught.value.field == "parent"
    assert "s2" not in db.state.users


def test_the_vip_level_is_checked_on_create_and_update(db, clock):
    with pytest.raises(InvalidInput):
        user_service.create_user(db, clock, uid="u1", vip_level=13)
    user_service.create_user(db, clock, uid="u1")
    with pytest.raises(InvalidInput):
        user_service.update_user(db, "u1", vip_level=-1)
    assert db.state.users["u1"].vip_level == 0


def test_an_update_changes_only_what_it_names(db, clock):
    created = user_service.create_user(db, clock, uid="u1", vip_level=2)
    assert user_service.update_user(db, "u1", hf=True) == User(
        "u1", None, 2, True, created.created_at
    )
    assert user_service.update_user(db, "u1", vip_level=5).hf
    assert db.state.users["u1"] == User("u1", None, 5, True, created.created_at)


def test_an_unknown_user_cannot_be_updated(db):
    with pytest.raises(UnknownUser):
        user_service.update_user(db, "nobody", hf=True)


@pytest.fixture
def user(db: FakeDatabase, clock) -> str:
    return user_service.create_user(db, clock, uid="u1").uid


def test_a_key_is_stored_sealed_and_opens_to_what_was_issued(db, clock, user):
    box = PlainBox()
    issued = key_service.create_key(
        db,
        box,
        clock,
        uid=user,
        permissions=frozenset({Permission.GENERAL, Permission.SPOT}),
        ip_whitelist=("10.0.0.1", "10.0.0.0/8"),
        key_version=2,
        passphrase="my pass",
    )
    stored = db.state.keys[issued.key]
    assert stored.sealed.startswith(PlainBox.MARK)  # only the box's output is kept
    assert stored.permissions == "General,Spot"
    assert stored.ip_whitelist == "10.0.0.1,10.0.0.0/8"
    assert (stored.key_version, stored.created_at, stored.revoked_at) == (
        2,
        clock(),
        None,
    )
    assert key_service.open_key(stored, box) == issued
    assert issued.passphrase == "my pass"


def test_a_key_without_a_passphrase_gets_a_random_one(db, clock, user):
    first = key_service.create_key(db, PlainBox(), clock, uid=user)
    second = key_service.create_key(db, PlainBox(), clock, uid=user)
    assert first.passphrase and first.passphrase != second.passphrase
    assert first.key != second.key and len(first.key) == 24
    assert first.permissions == frozenset({Permission.GENERAL})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"key_version": 4}, "key-version"),
        ({"permissions": frozenset()}, "permissions"),
    ],
)
def test_a_key_needs_a_known_version_and_a_permission(db, clock, user, fields, field):
    with pytest.raises(InvalidInput) as caught:
        key_service.create_key(db, PlainBox(), clock, uid=user, **fields)
    assert caught.value.field == field
    assert db.state.keys == {}


def test_keys_are_issued_to_known_users_only(db, clock):
    with pytest.raises(UnknownUser):
        key_service.create_key(db, PlainBox(), clock, uid="nobody")
    with pytest.raises(UnknownUser):
        key_service.list_keys(db, "nobody")


def test_keys_are_listed_oldest_first(db, clock, user):
    first = key_service.create_key(db, PlainBox(), clock, uid=user)
    clock.advance(1)
    second = key_service.create_key(db, PlainBox(), clock, uid=user)
    listed = key_service.list_keys(db, user)
    assert [k.key for k in listed] == [first.key, second.key]


def test_a_revoked_key_stays_listed_and_opens_as_revoked(db, clock, user):
    issued = key_service.create_key(db, PlainBox(), clock, uid=user)
    clock.advance(500)
    key_service.revoke_key(db, clock, issued.key)
    [stored] = key_service.list_keys(db, user)
    assert stored.revoked_at == clock()
    assert key_service.open_key(stored, PlainBox()).revoked


def test_revoking_an_unknown_or_revoked_key_is_refused(db, clock, user):
    with pytest.raises(UnknownApiKey):
        key_service.revoke_key(db, clock, "nope")
    issued = key_service.create_key(db, PlainBox(), clock, uid=user)
    key_service.revoke_key(db, clock, issued.key)
    revoked_at = db.state.keys[issued.key].revoked_at
    clock.advance(1)
    with pytest.raises(UnknownApiKey):
        key_service.revoke_key(db, clock, issued.key)
    assert db.state.keys[issued.key].revoked_at == revoked_at
