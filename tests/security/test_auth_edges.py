"""Authentication edges: what a failed check tells a guesser, what guessing
costs (failures are charged to the client IP's Public quota), and a version-3
key announced as version 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from kuledger.http.rate_policy import AUTH_FAILURE_WEIGHT
from kuledger_client.signing import sign, sign_passphrase
from tests.conftest import PostgresDatabases
from tests.e2e.test_balance_stream import redis_server
from tests.support.api import LEDGER, assert_error, new_uid, now_ms, ok_data, send
from tests.support.api import signed_headers as headers_for
from tests.support.inprocess import InProcessServer
from tests.support.server import ApiUser, Server
from tests.support.shared import ENGINES, engine_app

PUBLIC_QUOTA = 5 * AUTH_FAILURE_WEIGHT  # five failures per window
PROXY = "127.0.0.1/32"  # the in-process client's address: X-Forwarded-For counts


@pytest.fixture(
    scope="module",
    params=[*ENGINES, pytest.param("sqlite+redis", marks=pytest.mark.redis)],
)
def limited(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[InProcessServer]:
    """Rate limits on, in this process (MemoryLimiter) or in Redis (the
    RedisLimiter every worker shares)."""
    env = {
        "KULEDGER_RATELIMIT_QUOTAS": f"Public={PUBLIC_QUOTA}",
        "KULEDGER_TRUSTED_PROXIES": PROXY,
    }
    engine, _, shared = request.param.partition("+")
    with ExitStack() as stack:
        if shared:
            redis = stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))
            env["KULEDGER_REDIS_URL"] = redis.url
        yield stack.enter_context(
            engine_app(engine, tmp_path_factory, postgres_databases, env)
        )


_ADDRESS = iter(range(1, 250))


def _new_ip() -> str:
    """A client address of the test's own (its Public quota is untouched)."""
    return f"198.51.100.{next(_ADDRESS)}"


def _get(server: Server, user: ApiUser, ip: str, **changes: str) -> httpx.Response:
    headers = headers_for(user, "GET", LEDGER)
    headers.update(changes)
    headers["X-Forwarded-For"] = ip
    return send(server, "GET", LEDGER, headers)


def _wrong_secret(user: ApiUser) -> dict[str, str]:
    ts = str(now_ms())
    return {
        "KC-API-TIMESTAMP": ts,
        "KC-API-SIGN": sign(user.secret + "x", ts, "GET", LEDGER),
    }


# --- what a failure tells ---


@pytest.mark.parametrize("version", [1, 2, 3])
def test_without_the_secret_a_right_passphrase_looks_like_a_wrong_one(limited, version):
    user = limited.add_user(new_uid("guess"), key_version=version)
    ip = _new_ip()
    right = headers_for(user, "GET", LEDGER)["KC-API-PASSPHRASE"]
    wrong = right + "x" if version == 1 else sign_passphrase(user.secret, "x", 3)
    answers = [
        _get(limited, user, ip, **_wrong_secret(user), **{"KC-API-PASSPHRASE": p})
        for p in (right, wrong)
    ]
    for response in answers:
        assert_error(response, 401, "400005", msg_contains="KC-API-SIGN")
    assert answers[0].content == answers[1].content


def test_with_the_secret_a_wrong_passphrase_is_400004(limited):
    user = limited.add_user(new_uid("pass"))
    wrong = sign_passphrase(user.secret, "wrong", 3)
    response = _get(limited, user, _new_ip(), **{"KC-API-PASSPHRASE": wrong})
    assert_error(response, 401, "400004", msg_contains="KC-API-PASSPHRASE")


@pytest.mark.parametrize("form", ["hmac", "plain"])
def test_a_version_3_key_announced_as_version_1_is_refused(limited, form):
    user = limited.add_user(new_uid("v3as1"), key_version=3)
    passphrase = (
        sign_passphrase(user.secret, user.passphrase, 3)
        if form == "hmac"
        else user.passphrase
    )
    response = _get(
        limited,
        user,
        _new_ip(),
        **{"KC-API-KEY-VERSION": "1", "KC-API-PASSPHRASE": passphrase},
    )
    assert_error(response, 401, "400004")


# --- what guessing costs ---


def test_failures_are_charged_to_the_ips_public_quota(limited):
    user = limited.add_user(new_uid("charged"))
    ip = _new_ip()
    remaining = []
    for _ in range(5):
        response = _get(limited, user, ip, **_wrong_secret(user))
        assert_error(response, 401, "400005")
        assert response.headers["gw-ratelimit-limit"] == str(PUBLIC_QUOTA)
        remaining.append(int(response.headers["gw-ratelimit-remaining"]))
    assert remaining == [PUBLIC_QUOTA - AUTH_FAILURE_WEIGHT * n for n in range(1, 6)]
    # the quota is spent: a further guess is refused unchecked ...
    assert_error(_get(limited, user, ip, **_wrong_secret(user)), 429, "429000")
    # ... and so is a right one, which would otherwise tell the guesser
    assert_error(_get(limited, user, ip), 429, "429000")
    timestamp = limited.http.get(
        limited.base_url + "/api/v1/timestamp", headers={"X-Forwarded-For": ip}
    )
    assert_error(timestamp, 429, "429000")
    # another address is not affected, nor the key's own (uid) pool
    ok_data(_get(limited, user, _new_ip()))


@pytest.mark.parametrize(
    "failure",
    [
        {"KC-API-KEY": "0123456789abcdef01234567"},  # unknown key
        {"KC-API-TIMESTAMP": "1"},  # stale
        {"KC-API-KEY-VERSION": "9"},
        {"KC-API-SIGN": ""},  # missing
    ],
    ids=["unknown-key", "stale", "bad-version", "missing"],
)
def test_every_kind_of_failure_is_charged(limited, failure):
    user = limited.add_user(new_uid("kinds"))
    ip = _new_ip()
    response = _get(limited, user, ip, **failure)
    assert response.status_code in (400, 401), response.text
    assert int(response.headers["gw-ratelimit-remaining"]) == (
        PUBLIC_QUOTA - AUTH_FAILURE_WEIGHT
    )


def test_a_success_is_not_charged_to_the_public_quota(limited):
    user = limited.add_user(new_uid("fine"))
    ip = _new_ip()
    for _ in range(10):
        ok_data(_get(limited, user, ip))
    timestamp = limited.http.get(
        limited.base_url + "/api/v1/timestamp", headers={"X-Forwarded-For": ip}
    )
    assert int(timestamp.headers["gw-ratelimit-remaining"]) == PUBLIC_QUOTA - 3
