"""The visitator's list in Debian's Chromium against the real `broker serve`.

Signs in, reads the list, sees a change marked after a re-upload, filters it, downloads
the XLSX (opened with openpyxl) and the PDF (its text read with pypdf), and opens an
earlier list; axe-core finds no WCAG 2.1 A/AA violation on any of the pages, and each is
saved as a screenshot.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from browsing import RequestLog, check_axe, serve_broker
from databases import Database
from listings import LATER, MUNICIPALITY, NOTICE, ListWorld, rows, weekly
from openpyxl import load_workbook
from playwright.sync_api import Page
from pypdf import PdfReader
from webclient import WebUser, create_user

from broker.access import Role
from broker.db import make_session_factory
from broker.policy import Mode
from tests.broker.test_privacy import PLANTED

MOVED = "ændret: genhusning flyttet fra uge 9 til uge 11"


def _absent(text: str) -> None:
    for heading, value in PLANTED.items():
        assert value not in text, f"{heading} value found"


def _sign_in(page: Page, url: str, user: WebUser) -> None:
    """Open ``url``, get sent to sign in, sign in with the form and come back to ``url``."""
    page.goto(url)
    assert "/log-ind" in page.url
    page.get_by_label("Organisation").fill(user.org)
    page.get_by_label("Brugernavn").fill(user.username)
    page.get_by_label("Adgangskode").fill(user.password)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(url)


def _check_downloads(page: Page, release_id: str) -> None:
    """Download the XLSX (read with openpyxl) and the PDF (its text read with pypdf)."""
    with page.expect_download() as xlsx:
        page.get_by_role("link", name="Som regneark (XLSX)").click()
    book = load_workbook(io.BytesIO(Path(xlsx.value.path()).read_bytes()))
    about = {row[0]: row[1] for row in book["Om listen"].iter_rows(values_only=True)}
    assert about["Udleverings-id"] == release_id
    assert MOVED in {row[-1] for row in book["Liste"].iter_rows(values_only=True)}
    with page.expect_download() as pdf:
        page.get_by_role("link", name="Til print (PDF)").click()
    reader = PdfReader(io.BytesIO(Path(pdf.value.path()).read_bytes()))
    text = "".join(p.extract_text() for p in reader.pages).replace("\n", "")
    assert release_id in text
    assert "udgået" in text
    _absent(text)


@pytest.mark.browser
@pytest.mark.slow
def test_a_visitator_reads_the_list_sees_a_change_and_downloads_it(
    database: Database,
    tmp_path: Path,
    page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Sign in, the list, a change after a re-upload, the filter, XLSX and PDF, an earlier list."""
    home = tmp_path / "home"
    world = ListWorld(database, home, weekly(Mode.CHANGES))
    world.upload(rows(6))
    first = world.release()
    user = create_user(make_session_factory(database.engine), role=Role.VISITATOR, org=MUNICIPALITY)
    with serve_broker(database, home) as served:
        requests = RequestLog(page)
        # 1. Sign in through the form, coming back to the list.
        _sign_in(page, f"{served.url}/lister", user)
        table = page.locator("table.list-table")
        assert table.locator("tbody tr").count() == 6
        check_axe(page)
        screenshot(page, "list-first")

        # 2. A re-upload moves one rehousing, adds one dwelling and withdraws one.
        world.upload(rows(1, first=2, phases=(NOTICE, LATER)) + rows(4, first=3) + rows(1, first=8))
        second = world.release()
        page.goto(f"{served.url}/lister")
        assert page.get_by_text(MOVED).count() == 1
        assert table.get_by_text("ny", exact=True).count() == 1
        assert table.get_by_text("udgået", exact=True).count() == 1
        check_axe(page)
        screenshot(page, "list-changed")

        # 3. Filter by phase with the plain form.
        page.get_by_label("Fase").select_option("genhusning")
        page.get_by_role("button", name="Vis", exact=True).click()
        page.wait_for_url("**fase=genhusning**")
        check_axe(page)
        screenshot(page, "list-filtered")
        page.get_by_role("link", name="Vis hele listen").click()

        # 4. The downloads: the same list, traced to the log.
        _check_downloads(page, second)

        # 5. The earlier list, one click away.
        page.locator(f'a[href="/lister/{first}"]').click()
        page.wait_for_url(f"{served.url}/lister/{first}")
        assert page.get_by_text("Første liste").count() == 1
        check_axe(page)
        screenshot(page, "list-earlier")
        _absent(page.content())
        assert requests.hosts() == {served.origin}
