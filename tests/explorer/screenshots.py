"""Screenshots of the explorer for docs/explorer.md, from a real browser on
the test site: `python -m tests.explorer.screenshots docs/img` (the browser
tests take the same ones, so this keeps working)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page

from tests.explorer.browser import chromium
from tests.explorer.support import Site, explorer_site

SIZE = {"width": 1280, "height": 860}


def log_in_operator(page: Page, site: Site) -> None:
    page.goto(site.url + "/")
    page.fill("#operator-login input[name=token]", site.operator_token)
    page.click("#operator-login button")
    page.wait_for_url("**/explorer/users")


def chart_ready(page: Page) -> None:
    page.wait_for_selector("#balance-chart[data-ready='1']")


def take(browser: Browser, site: Site, out: Path) -> list[Path]:
    """One PNG per page: login, users, account (entries and chart), operation."""
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=SIZE)
    shots = []

    def shot(name: str) -> None:
        path = out / f"explorer-{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    page.goto(site.url + "/login")
    shot("login")
    log_in_operator(page, site)
    page.goto(site.url + "/users/alice")
    shot("user")
    page.goto(f"{site.url}/accounts/{site.alice_usdt}")
    chart_ready(page)
    shot("account")
    page.goto(f"{site.url}/operations/alice/{site.transfer_id}")
    shot("operation")
    page.goto(site.url + "/verify")
    shot("verify")
    page.close()
    return shots


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
    with (
        tempfile.TemporaryDirectory() as work,
        explorer_site(Path(work)) as site,
        chromium() as browser,
    ):
        for path in take(browser, site, out):
            print(path)


if __name__ == "__main__":
    main()
