"""The DPO reads the disclosure log in Debian's Chromium against the real `broker serve`.

Opens the log from the start page, filters it to the releases, opens the release's entry
and unfolds its canonical JSON; axe-core finds no WCAG 2.1 A/AA violation on either page,
and both are saved as screenshots.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from browsing import RequestLog, check_axe, serve_broker
from databases import Database
from listings import ListWorld, rows, weekly
from playwright.sync_api import Page
from webclient import create_user

from broker.access import Role
from broker.db import make_session_factory
from tests.broker.test_privacy import PLANTED


@pytest.mark.browser
@pytest.mark.slow
def test_the_dpo_reads_the_log_filters_it_and_opens_an_entry(
    database: Database, tmp_path: Path, page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    """Start page, the log, the releases only, one entry with its exact JSON."""
    home = tmp_path / "home"
    world = ListWorld(database, home, weekly())
    world.upload(rows(6))
    world.release()
    user = create_user(make_session_factory(database.engine), role=Role.AUDITOR, org="bo-vest")
    with serve_broker(database, home) as served:
        requests = RequestLog(page)
        page.goto(f"{served.url}/")
        page.get_by_label("Organisation").fill(user.org)
        page.get_by_label("Brugernavn").fill(user.username)
        page.get_by_label("Adgangskode").fill(user.password)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url(f"{served.url}/")
        page.get_by_role("link", name="Udleveringsloggen").click()
        page.wait_for_url(f"{served.url}/logbog")
        assert page.get_by_role("cell", name="Aftaleversion registreret").count() >= 1
        check_axe(page)
        screenshot(page, "dpo-log")

        page.get_by_label("Hændelse").select_option("release")
        page.get_by_role("button", name="Vis").click()
        page.wait_for_url("**/logbog?*haendelse=release*")
        assert page.get_by_role("cell", name="Udleveret på en liste").count() == 1
        page.locator("table a").first.click()
        page.wait_for_url("**/logbog/*")
        assert page.get_by_role("heading", name="Udleveret på en liste").count() == 1
        page.get_by_text("Posten præcis som den står i loggen (kanonisk JSON)").click()
        assert page.get_by_text('"event":"release"').count() == 1
        check_axe(page)
        screenshot(page, "dpo-log-entry")
        text = page.content()
        assert requests.hosts() == {served.origin}
    for value in PLANTED.values():
        assert value not in text
