"""The explorer over HTTP, without a browser: logins, the session cookie,
what each viewer may see, logout's CSRF check and the pages' answers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from kuledger.services.keys import create_key, revoke_key
from kuledger.services.operator_tokens import Scope, create_token, revoke_token
from tests.explorer.support import ALICE_DEPOSITS, Site, explorer_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with explorer_site(tmp_path_factory.mktemp("explorer")) as running:
        yield running


@pytest.fixture
def client(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url) as c:
        yield c


def log_in_operator(c: httpx.Client, token: str) -> httpx.Response:
    return c.post("/login/operator", data={"token": token})


def log_in_user(
    c: httpx.Client, key: str, secret: str, passphrase: str
) -> httpx.Response:
    return c.post(
        "/login/key", data={"key": key, "secret": secret, "passphrase": passphrase}
    )


def test_an_operator_login_sets_a_strict_httponly_session_cookie(site, client):
    done = log_in_operator(client, site.operator_token)
    assert done.status_code == 303 and done.headers["location"] == "/explorer/"
    cookie = done.headers["set-cookie"].lower()
    for attribute in ("httponly", "samesite=strict", "path=/explorer", "max-age="):
        assert attribute in cookie
    assert site.operator_token.lower() not in cookie
    users = client.get("/users")
    assert (
        users.status_code == 200 and ">alice<" in users.text and ">bob<" in users.text
    )
    assert "script-src 'self'" in users.headers["content-security-policy"]
    assert re.fullmatch(r"app;dur=[0-9.]+", users.headers["server-timing"])


@pytest.mark.parametrize("which", ["unknown", "post-only"])
def test_an_operator_login_needs_an_active_token_with_the_read_scope(
    site, client, which
):
    token = "kuop_" + "x" * 40 if which == "unknown" else site.post_only_token
    refused = log_in_operator(client, token)
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    assert client.get("/users").status_code == 303


def test_a_user_login_checks_key_secret_and_passphrase(site, client):
    a = site.alice
    for key, secret, passphrase in (
        (a.key, a.secret, "wrong"),
        (a.key, "wrong", a.passphrase),
        ("0" * 24, a.secret, a.passphrase),
        (site.bob.key, a.secret, a.passphrase),
    ):
        refused = log_in_user(client, key, secret, passphrase)
        assert refused.status_code == 401
        assert "wrong API key, secret or passphrase" in refused.text
    assert log_in_user(client, a.key, a.secret, a.passphrase).status_code == 303
    page = client.get("/")
    assert (
        page.status_code == 303 and page.headers["location"] == "/explorer/users/alice"
    )
    assert "USDT" in client.get("/users/alice").text


def test_a_user_sees_only_their_own_data(site, client):
    a = site.alice
    log_in_user(client, a.key, a.secret, a.passphrase)
    assert client.get(f"/accounts/{site.alice_usdt}").status_code == 200
    for path in (
        "/users/bob",
        f"/accounts/{site.bob_usdt}",
        f"/accounts/{site.bob_usdt}/balance.json",
        "/operations/bob/b1",
        "/users/bob/account?type=main&currency=USDT",
        "/verify",
    ):
        refused = client.get(path)
        assert refused.status_code == 404, path
        assert "7" not in refused.text.split("<main>")[1].split("</main>")[0]
    # The users list is an operator's page: a user is sent to their own.
    assert client.get("/users").headers["location"] == "/explorer/users/alice"


def test_logged_out_pages_redirect_to_the_login_with_the_way_back(site, client):
    for path in ("/users", f"/accounts/{site.alice_usdt}?direction=in"):
        answer = client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/explorer/login?next=%2Fexplorer")
    login = client.get("/login")
    assert login.status_code == 200 and 'name="token"' in login.text


def test_login_returns_to_the_page_asked_for_but_never_off_site(site, client):
    path = "/login/operator?next=" + "%2Fexplorer%2Fverify"
    done = client.post(path, data={"token": site.operator_token})
    assert done.headers["location"] == "/explorer/verify"
    off_site = client.post(
        "/login/operator?next=https%3A%2F%2Fevil.example%2F",
        data={"token": site.operator_token},
    )
    assert off_site.headers["location"] == "/explorer/"


def test_logout_needs_the_sessions_csrf_token(site, client):
    log_in_operator(client, site.operator_token)
    forged = client.post("/logout", data={"csrf": "guess"})
    assert forged.status_code == 403
    assert client.get("/users").status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/users").text)
    assert csrf is not None
    done = client.post("/logout", data={"csrf": csrf.group(1)})
    assert done.status_code == 303 and "max-age=0" in done.headers["set-cookie"].lower()
    assert client.get("/users").status_code == 303


def test_a_forged_or_tampered_cookie_is_no_session(site, client):
    log_in_operator(client, site.operator_token)
    good = client.cookies["kuledger_explorer"]
    client.cookies.clear()
    client.cookies.set("kuledger_explorer", good[:-2] + "xx", path="/explorer")
    assert client.get("/users").status_code == 303


def test_revoking_the_token_or_key_ends_its_sessions(site, client):
    c = site.container
    _, token = create_token(
        c.operator_tokens, c.clock, name="short-lived", scopes=frozenset({Scope.READ})
    )
    log_in_operator(client, token)
    assert client.get("/users").status_code == 200
    revoke_token(c.operator_tokens, c.clock, "short-lived")
    assert client.get("/users").status_code == 303
    key = create_key(c.uow, c.box, c.clock, uid="bob")
    log_in_user(client, key.key, key.secret, key.passphrase)
    assert client.get("/users/bob").status_code == 200
    revoke_key(c.uow, c.clock, key.key)
    assert client.get("/users/bob").status_code == 303


def entry_seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'data-seq="([0-9]+)"', html)]


def test_account_pages_are_keyset_pages_newest_first(site, client):
    log_in_operator(client, site.operator_token)
    total = 2 * ALICE_DEPOSITS + 1
    first = client.get(f"/accounts/{site.alice_usdt}")
    assert entry_seqs(first.text) == list(range(total, total - 50, -1))
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None and "before=" in older.group(1)
    second = client.get(older.group(1).replace("&amp;", "&").removeprefix("/explorer"))
    assert entry_seqs(second.text) == list(range(total - 50, total - 100, -1))
    newer = re.search(r'href="([^"]+)" rel="prev"', second.text)
    assert newer is not None
    back = client.get(newer.group(1).replace("&amp;", "&").removeprefix("/explorer"))
    assert entry_seqs(back.text) == entry_seqs(first.text)


def test_filters_select_by_biztype_direction_and_time(site, client):
    log_in_operator(client, site.operator_token)
    url = f"/accounts/{site.alice_usdt}"
    deposits = client.get(url, params={"bizType": "DEPOSIT"})
    assert "WITHDRAW" not in deposits.text.split("<tbody>")[1]
    assert all(s % 2 == 1 for s in entry_seqs(deposits.text))  # d0 is seq 1
    outs = client.get(url, params={"direction": "out", "from": "2026-01-01T00:00",
                                   "to": "2026-01-01T05:59"})  # fmt: skip
    assert entry_seqs(outs.text) == [6, 4, 2]  # withdrawals at 01:00, 03:00, 05:00
    bad = client.get(url, params={"bizType": "NOPE"})
    assert bad.status_code == 400 and "unknown business type" in bad.text
    reversed_range = client.get(url, params={"from": "2026-02-01", "to": "2026-01-01"})
    assert reversed_range.status_code == 400


def test_the_currency_filter_picks_the_users_account(site, client):
    log_in_operator(client, site.operator_token)
    found = client.get("/users/alice/account?type=trade&currency=USDT&direction=in")
    assert found.status_code == 303 and "direction=in" in found.headers["location"]
    assert client.get("/users/alice/account?type=main&currency=BTC").status_code == 404


def test_the_balance_series_is_bounded_and_ends_at_the_balance(site, client):
    log_in_operator(client, site.operator_token)
    series = client.get(f"/accounts/{site.alice_usdt}/balance.json").json()
    assert series["entries"] == 2 * ALICE_DEPOSITS + 1 and not series["sampled"]
    assert sum(b[2] for b in series["buckets"]) == series["entries"]
    [account] = site.container.reader.accounts("alice", "USDT", None)[:1]
    assert series["buckets"][-1][6] == str(account.balance)


def test_the_operation_page_shows_every_leg_and_its_chain_link(site, client):
    log_in_operator(client, site.operator_token)
    page = client.get("/operations/alice/t1")
    assert page.status_code == 200
    assert page.text.count('class="leg"') == 2 and page.text.count("link-ok") == 2
    assert client.get("/operations/alice/nope").status_code == 404


def test_the_verify_page_shows_the_last_clean_run(site, client):
    log_in_operator(client, site.operator_token)
    page = client.get("/verify")
    assert "never" not in page.text.split('id="verify-status"')[1].split("</dl>")[0]
    assert page.text.count("<tr><td><a") == 3  # alice main and trade, bob main


def test_forms_posted_from_another_site_are_refused(site, client):
    evil = {"Origin": "https://evil.example"}
    login = client.post(
        "/login/operator", data={"token": site.operator_token}, headers=evil
    )
    assert login.status_code == 403 and "set-cookie" not in login.headers
    same = client.post(
        "/login/operator",
        data={"token": site.operator_token},
        headers={"Origin": site.url.removesuffix("/explorer")},
    )
    assert same.status_code == 303
    assert client.post("/logout", data={}, headers=evil).status_code == 403
    assert client.get("/users").status_code == 200


@pytest.mark.parametrize("logged_in", [False, True])
def test_unknown_paths_and_wrong_methods_get_the_explorers_own_pages(
    site, client, logged_in
):
    if logged_in:
        log_in_operator(client, site.operator_token)
    answers = {
        404: [
            client.get("/no-such-page"),
            client.get("/users/alice/nothing/here"),
            client.get("/static/no-such-file.css"),
        ],
        405: [client.post("/users", data={}), client.delete("/verify")],
    }
    for status, responses in answers.items():
        for answer in responses:
            assert answer.status_code == status, answer.request.url
            assert answer.headers["content-type"] == "text/html; charset=utf-8"
            assert "script-src 'self'" in answer.headers["content-security-policy"]
            page = answer.text
            assert page.startswith("<!doctype html>") and "kuledger explorer" in page
            title = "Not found." if status == 404 else "Method not allowed."
            assert f"<h1>{title}</h1>" in page
            assert 'href="/explorer/static/explorer.css"' in page  # the layout
            assert ("Log out" in page) is logged_in  # the viewer's own header
            assert "Traceback" not in page and "starlette" not in page.lower()
    allowed = answers[405][0].headers["allow"].split(", ")
    assert sorted(allowed) == ["GET", "HEAD"]
