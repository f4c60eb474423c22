"""The explorer end to end in headless Chromium: what a person does, on a
real server over TCP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.explorer.browser import chromium, require_chromium
from tests.explorer.screenshots import chart_ready, log_in_operator, take
from tests.explorer.support import ALICE_DEPOSITS, Site, explorer_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with explorer_site(tmp_path_factory.mktemp("explorer-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()  # cookies of its own
    opened = context.new_page()
    yield opened
    context.close()


def seqs(page: Page) -> list[int]:
    return [int(s) for s in page.locator("#entries tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.seq).filter(Boolean)")]  # fmt: skip


def test_an_operator_browses_filters_pages_and_follows_an_operation(page, site):
    log_in_operator(page, site)
    page.click("text=alice")
    page.wait_for_url("**/users/alice")
    page.click("#accounts tbody tr:first-child td.num a")  # main USDT's balance
    chart_ready(page)
    points = int(page.get_attribute("#balance-chart", "data-points") or 0)
    assert 1 <= points <= 600
    drawn = page.evaluate(
        """() => { const c = document.getElementById('balance-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let inked = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) inked++;
        return inked; }"""
    )
    assert drawn > 1000  # the canvas has a line on it, not just a caption
    total = 2 * ALICE_DEPOSITS + 1
    assert seqs(page) == list(range(total, total - 50, -1))

    page.select_option("#filters select[name=direction]", "out")
    page.fill("#filters input[name=from]", "2026-01-02T00:00")
    page.click("#filters button")
    page.wait_for_url(re.compile(r".*direction=out.*"))
    filtered = seqs(page)
    assert len(filtered) == 50 and filtered[0] == total  # the transfer's out leg
    assert all(s % 2 == 0 for s in filtered[1:])  # and withdrawals
    assert page.locator("#entries td.out").count() == 50
    assert page.locator("#entries td.in").count() == 0

    page.click("#older")
    older = seqs(page)
    assert older and max(older) < min(filtered) and all(s % 2 == 0 for s in older)
    assert min(older) >= 25  # from 2026-01-02: nothing before seq 25
    page.click("#newer")
    assert seqs(page) == filtered

    page.goto(f"{site.url}/accounts/{site.alice_usdt}")
    page.click("#entries tbody tr:first-child td a")  # the newest: the transfer
    page.wait_for_url("**/operations/alice/t1")
    assert page.locator("tr.leg").count() == 2
    assert page.locator(".link-ok").count() == 2

    page.click("#logout")
    page.wait_for_url("**/explorer/login")
    page.goto(site.url + "/users")
    assert "/explorer/login?next=" in page.url


def test_a_user_logs_in_with_their_key_and_cannot_see_another_users_data(page, site):
    a = site.alice
    page.goto(site.url + "/users/alice")
    assert "/explorer/login" in page.url  # logged out: sent to the login
    page.fill("#key-login input[name=key]", a.key)
    page.fill("#key-login input[name=secret]", a.secret)
    page.fill("#key-login input[name=passphrase]", "not-it")
    page.click("#key-login button")
    assert "wrong API key, secret or passphrase" in page.inner_text(".error")
    page.fill("#key-login input[name=key]", a.key)
    page.fill("#key-login input[name=secret]", a.secret)
    page.fill("#key-login input[name=passphrase]", a.passphrase)
    page.click("#key-login button")
    page.wait_for_url("**/explorer/users/alice")  # the page first asked for
    assert "read-only" in page.inner_text("header")
    for path in ("/users/bob", f"/accounts/{site.bob_usdt}", "/operations/bob/b1"):
        answer = page.goto(site.url + path)
        assert answer is not None and answer.status == 404, path
    answer = page.goto(f"{site.url}/accounts/{site.alice_usdt}")
    assert answer is not None and answer.status == 200
    chart_ready(page)


def test_screenshots_of_every_page(browser, site, tmp_path: Path):
    shots = take(browser, site, tmp_path)
    assert [p.name for p in shots] == [
        f"explorer-{n}.png" for n in ("login", "user", "account", "operation", "verify")
    ]
    assert all(
        p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 5000 for p in shots
    )
