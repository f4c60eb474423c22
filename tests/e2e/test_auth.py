"""Every authentication outcome, with its KuCoin code and HTTP status.

One server per engine is shared (`module_api`); the keys below are issued
once. Only the trusted-proxy tests need a server of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kuledger.http.endpoints import ENDPOINTS
from kuledger_client.signing import sign, sign_passphrase
from tests.conftest import PostgresDatabases
from tests.support.api import (
    LEDGER,
    assert_error,
    new_uid,
    now_ms,
    ok_data,
    send,
    signed_headers,
)
from tests.support.server import ApiUser, Server
from tests.support.shared import ENGINES, engine_app

ACCOUNTS = "/api/v1/accounts"
REQUIRED = ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")


@dataclass(frozen=True)
class Keys:
    alice: ApiUser  # General, version 3, any IP
    bob: ApiUser  # another user, with a USDT account
    spot_only: ApiUser  # alice's key without General
    outside: ApiUser  # alice's key for 10.0.0.0/8 only
    local: ApiUser  # alice's key for 127.0.0.1/32 only
    v1: ApiUser  # alice's key of version 1 (plain passphrase)
    v2: ApiUser  # alice's key of version 2


@pytest.fixture(scope="module")
def keys(module_api: Server) -> Keys:
    s = module_api
    alice = s.add_user(new_uid("alice"))
    bob = s.add_user(new_uid("bob"))
    s.cli.post(
        [
            {"op": "deposit", "uid": uid, "id": "d", "currency": "USDT", "amount": "3"}
            for uid in (alice.uid, bob.uid)
        ]
    )
    return Keys(
        alice=alice,
        bob=bob,
        spot_only=s.add_key(alice.uid, permissions="Spot"),
        outside=s.add_key(alice.uid, ip="10.0.0.0/8"),
        local=s.add_key(alice.uid, ip="127.0.0.1/32"),
        v1=s.add_key(alice.uid, key_version=1),
        v2=s.add_key(alice.uid, key_version=2),
    )


def get(
    server: Server,
    user: ApiUser,
    path: str = LEDGER,
    *,
    signed_path: str | None = None,
    drop: tuple[str, ...] = (),
    **changes: str,
):
    """A signed GET of `path`, signed over `signed_path`, with headers dropped
    or replaced (`changes` names headers with _ for -, e.g. KC_API_KEY)."""
    headers = signed_headers(user, "GET", signed_path or path)
    for name in drop:
        headers.pop(name, None)
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    return send(server, "GET", path, headers)


# --- the happy path, and each failure on its own ---


def test_a_correctly_signed_request_succeeds(module_api, keys):
    data = ok_data(get(module_api, keys.alice))
    assert data["totalNum"] == 1


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_missing_header_is_400001_http_400(module_api, keys, missing):
    response = get(module_api, keys.alice, drop=(missing,))
    assert_error(response, 400, "400001", msg_contains=missing)


@pytest.mark.parametrize("empty", REQUIRED)
def test_an_empty_header_counts_as_missing(module_api, keys, empty):
    response = get(module_api, keys.alice, **{empty.replace("-", "_"): ""})
    assert_error(response, 400, "400001")


def test_no_auth_headers_at_all_is_400001(module_api):
    assert_error(send(module_api, "GET", LEDGER), 400, "400001")


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-6000, False),
        (+6000, False),
        (-4000, True),  # 5 s less a margin for the time the request travels
        (+5000, True),
        (0, True),
    ],
)
def test_the_timestamp_may_be_5s_off_either_way(module_api, keys, offset, accepted):
    user = keys.alice
    headers = signed_headers(user, "GET", LEDGER, timestamp=now_ms() + offset)
    response = send(module_api, "GET", LEDGER, headers)
    if accepted:
        ok_data(response)
    else:
        assert_error(response, 400, "400002", msg_contains="KC-API-TIMESTAMP")


@pytest.mark.parametrize("stamp", ["abc", "1.7e12", "-1", "0", "99999999999999999"])
def test_a_malformed_timestamp_is_400002(module_api, keys, stamp):
    headers = signed_headers(keys.alice, "GET", LEDGER, timestamp=stamp)
    assert_error(send(module_api, "GET", LEDGER, headers), 400, "400002")


def test_an_unknown_key_is_400003_http_401(module_api, keys):
    response = get(module_api, keys.alice, KC_API_KEY="0123456789abcdef01234567")
    assert_error(response, 401, "400003", msg_contains="KC-API-KEY")


def test_an_overlong_key_is_400003(module_api, keys):
    assert_error(get(module_api, keys.alice, KC_API_KEY="k" * 500), 401, "400003")


def test_a_wrong_passphrase_is_400004_http_401(module_api, keys):
    user = keys.alice
    wrong = sign_passphrase(user.secret, user.passphrase + "x", 3)
    response = get(module_api, user, KC_API_PASSPHRASE=wrong)
    assert_error(response, 401, "400004", msg_contains="KC-API-PASSPHRASE")


def test_a_bad_signature_is_400005_http_401(module_api, keys):
    user = keys.alice
    ts = str(now_ms())
    forged = sign(user.secret + "x", ts, "GET", LEDGER)
    response = get(module_api, user, KC_API_SIGN=forged, KC_API_TIMESTAMP=ts)
    assert_error(response, 401, "400005", msg_contains="KC-API-SIGN")


def test_a_signature_over_another_path_is_400005(module_api, keys):
    response = get(module_api, keys.alice, signed_path=ACCOUNTS)
    assert_error(response, 401, "400005")


def test_a_signature_over_another_method_is_400005(module_api, keys):
    headers = signed_headers(keys.alice, "POST", LEDGER)
    assert_error(send(module_api, "GET", LEDGER, headers), 401, "400005")


def test_a_signature_over_another_timestamp_is_400005(module_api, keys):
    headers = signed_headers(keys.alice, "GET", LEDGER)
    headers["KC-API-TIMESTAMP"] = str(int(headers["KC-API-TIMESTAMP"]) + 1)
    assert_error(send(module_api, "GET", LEDGER, headers), 401, "400005")


# --- the query the signature covers ---


def test_a_signature_over_the_decoded_query_accepts_an_encoded_one(module_api, keys):
    sent = f"{LEDGER}?currency=USDT%2CBTC"
    signed = f"{LEDGER}?currency=USDT,BTC"
    data = ok_data(get(module_api, keys.alice, sent, signed_path=signed))
    assert [item["currency"] for item in data["items"]] == ["USDT"]


def test_a_signature_over_the_raw_query_is_accepted(module_api, keys):
    sent = f"{LEDGER}?currency=USDT%2CBTC"
    ok_data(get(module_api, keys.alice, sent, signed_path=sent))


def test_a_signature_over_a_re_encoded_query_is_refused(module_api, keys):
    sent = f"{LEDGER}?currency=USDT,BTC"
    signed = f"{LEDGER}?currency=USDT%2CBTC"
    response = get(module_api, keys.alice, sent, signed_path=signed)
    assert_error(response, 401, "400005")


def test_a_signature_without_the_query_is_refused(module_api, keys):
    sent = f"{LEDGER}?currency=USDT"
    assert_error(get(module_api, keys.alice, sent, signed_path=LEDGER), 401, "400005")


# --- IP whitelist and proxies ---


def test_a_key_used_outside_its_whitelist_is_400006_http_403(module_api, keys):
    response = get(module_api, keys.outside)
    assert_error(response, 403, "400006", msg_contains="127.0.0.1")


def test_a_key_used_inside_its_whitelist_works(module_api, keys):
    ok_data(get(module_api, keys.local))


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(module_api, keys):
    spoofed = {"X_Forwarded_For": "10.1.2.3"}
    assert_error(get(module_api, keys.outside, **spoofed), 403, "400006")
    ok_data(get(module_api, keys.local, **spoofed))


@dataclass(frozen=True)
class ProxiedKeys:
    server: Server
    outside: ApiUser
    local: ApiUser


@pytest.fixture(scope="module", params=ENGINES)
def behind_proxy(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[ProxiedKeys]:
    env = {"KULEDGER_TRUSTED_PROXIES": "127.0.0.1/32"}
    with engine_app(request.param, tmp_path_factory, postgres_databases, env) as server:
        uid = new_uid("proxied")
        outside = server.add_user(uid, ip="10.0.0.0/8")
        local = server.add_key(uid, ip="127.0.0.1/32")
        yield ProxiedKeys(server, outside, local)


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("10.1.2.3", "10.1.2.3"),
        ("10.1.2.3, 127.0.0.1", "10.1.2.3"),  # the proxy's own hop is skipped
        ("192.168.0.9, 10.1.2.3", "10.1.2.3"),  # the right-most untrusted hop
        (None, "127.0.0.1"),  # no header: the peer itself
    ],
)
def test_x_forwarded_for_decides_behind_a_trusted_proxy(
    behind_proxy, forwarded, client
):
    p = behind_proxy
    extra = {} if forwarded is None else {"X_Forwarded_For": forwarded}
    if client == "127.0.0.1":
        allowed, refused = p.local, p.outside
    else:
        allowed, refused = p.outside, p.local
    ok_data(get(p.server, allowed, **extra))
    response = get(p.server, refused, **extra)
    assert_error(response, 403, "400006", msg_contains=client)


def test_a_forged_hop_before_the_proxys_own_does_not_count(behind_proxy):
    """The client wrote 10.1.2.3; the proxy appended the real 192.168.0.9."""
    p = behind_proxy
    forged = {"X_Forwarded_For": "10.1.2.3, 192.168.0.9"}
    response = get(p.server, p.outside, **forged)
    assert_error(response, 403, "400006", msg_contains="192.168.0.9")


# --- permissions and ownership ---


def test_a_key_without_general_is_400007_http_403(module_api, keys):
    response = get(module_api, keys.spot_only)
    assert_error(response, 403, "400007", msg_contains="permission")


def _account_id(server: Server, user: ApiUser) -> str:
    [account] = ok_data(server.signed(user, "GET", ACCOUNTS))
    return str(account["id"])


def test_another_users_account_does_not_exist_for_you(module_api, keys):
    s = module_api
    own = _account_id(s, keys.alice)
    theirs = _account_id(s, keys.bob)
    assert ok_data(s.signed(keys.alice, "GET", f"{ACCOUNTS}/{own}"))["balance"] == "3"
    response = s.signed(keys.alice, "GET", f"{ACCOUNTS}/{theirs}")
    assert_error(response, 200, "230008", msg_contains="account not exist")
    response = s.signed(keys.alice, "GET", f"{ACCOUNTS}/no-such-account")
    assert_error(response, 200, "230008", msg_contains="account not exist")


# --- key versions ---


@pytest.mark.parametrize(
    ("key", "version", "passphrase", "accepted"),
    [
        ("alice", "3", "hmac", True),
        ("alice", "2", "hmac", True),
        ("alice", None, "hmac", True),  # no header: the key's own version (3)
        ("alice", None, "plain", False),
        ("alice", "3", "plain", False),
        ("alice", "1", "plain", False),  # a v2/v3 key never takes a plain one
        ("alice", "1", "hmac", False),  # nor a header that announces one
        ("v2", "2", "hmac", True),
        ("v2", None, "hmac", True),
        ("v2", None, "plain", False),
        ("v1", None, "plain", True),  # no header: the key's own version (1)
        ("v1", "1", "plain", True),
        ("v1", "2", "hmac", True),  # ccxt always sends 2 with the HMAC form
        ("v1", None, "hmac", False),
    ],
)
def test_key_versions(module_api, keys, key, version, passphrase, accepted):
    user = getattr(keys, key)
    headers = signed_headers(user, "GET", LEDGER)
    headers.pop("KC-API-KEY-VERSION", None)
    if version is not None:
        headers["KC-API-KEY-VERSION"] = version
    headers["KC-API-PASSPHRASE"] = (
        user.passphrase
        if passphrase == "plain"
        else sign_passphrase(user.secret, user.passphrase, 3)
    )
    response = send(module_api, "GET", LEDGER, headers)
    if accepted:
        ok_data(response)
    else:
        assert_error(response, 401, "400004")


@pytest.mark.parametrize("version", ["0", "4", "v3", "33"])
def test_an_unknown_key_version_is_400009_http_400(module_api, keys, version):
    response = get(module_api, keys.alice, KC_API_KEY_VERSION=version)
    assert_error(response, 400, "400009", msg_contains="KC-API-KEY-VERSION")


# --- revocation, partner headers, public endpoints ---


def test_a_revoked_key_stops_working_at_once(module_api, keys):
    key = module_api.add_key(keys.alice.uid)
    ok_data(get(module_api, key))
    module_api.cli.run("keys", "revoke", key.key)
    assert_error(get(module_api, key), 401, "400003")
    ok_data(get(module_api, keys.alice))  # the user's other keys still work


def test_partner_headers_are_ignored(module_api, keys):
    partner = {
        "KC_API_PARTNER": "some-broker",
        "KC_API_PARTNER_SIGN": "not-a-signature",
        "KC_API_PARTNER_VERIFY": "true",
        "KC_BROKER_NAME": "broker",
    }
    ok_data(get(module_api, keys.alice, **partner))


PUBLIC = [e for e in ENDPOINTS if not e.signed and "{" not in e.path]


@pytest.mark.parametrize("endpoint", PUBLIC, ids=lambda e: f"{e.method} {e.path}")
def test_public_endpoints_ignore_stray_auth_headers(module_api, endpoint):
    stray = {
        "KC-API-KEY": "not-a-key",
        "KC-API-PASSPHRASE": "not-a-passphrase",
        "KC-API-SIGN": "not-a-signature",
        "KC-API-TIMESTAMP": "1",
    }
    ok_data(send(module_api, endpoint.method, endpoint.path, stray))


# --- the order of the checks (kucoin-api-spec.md 5, 9; docs/api.md) ---


def test_the_checks_run_in_the_documented_order(module_api, keys):
    s, user = module_api, keys.outside
    stale = str(now_ms() - 60_000)
    wrong_pass = sign_passphrase(user.secret, "wrong", 3)
    forged = sign(user.secret, stale, "GET", ACCOUNTS)
    # unknown key beats a stale timestamp
    response = get(s, user, KC_API_KEY="f" * 24, KC_API_TIMESTAMP=stale)
    assert_error(response, 401, "400003")
    # a stale timestamp beats a wrong passphrase and a bad signature
    response = get(
        s,
        user,
        KC_API_TIMESTAMP=stale,
        KC_API_PASSPHRASE=wrong_pass,
        KC_API_SIGN=forged,
    )
    assert_error(response, 400, "400002")
    # a bad signature beats a wrong passphrase (KuCoin's order is the other
    # way round, which tells a guesser without the secret the right passphrase)
    response = get(s, user, KC_API_PASSPHRASE=wrong_pass, signed_path=ACCOUNTS)
    assert_error(response, 401, "400005")
    # a wrong passphrase beats a forbidden IP
    assert_error(get(s, user, KC_API_PASSPHRASE=wrong_pass), 401, "400004")
    # a bad signature beats a forbidden IP
    assert_error(get(s, user, signed_path=ACCOUNTS), 401, "400005")
    # a forbidden IP beats a missing permission
    no_general = s.add_key(keys.alice.uid, permissions="Spot", ip="10.0.0.0/8")
    assert_error(get(s, no_general), 403, "400006")
