"""A rehousing officer uploads the schedule in Debian's Chromium against the real `broker serve`.

One upload with one changed date and one dwelling left out is previewed and stored; a
cut-off export is stopped by the guard until its count is ticked; the department's
timeline is read. axe-core finds no WCAG 2.1 A/AA violation on any of the pages, and
they are saved as screenshots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from browsing import RequestLog, check_axe, serve_broker
from databases import Database
from factories import dwelling_rows, with_personal, write_csv
from playwright.sync_api import Page
from sqlalchemy import func, select
from webclient import create_user

from broker.access import Role
from broker.db import make_session_factory, session_scope
from broker.ingest import ingest_file
from broker.renovation import Dwelling
from tests.broker.test_privacy import PLANTED

MARCH, JUNE = dt.date(2027, 3, 1), dt.date(2027, 6, 30)
# Loaded before the tests upload (the pages run on the real clock).
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def _rows(count: int) -> list[dict[str, str]]:
    return dwelling_rows(count, phases=(("genhusning", MARCH, JUNE),))


def _affected(database: Database) -> int:
    with database.engine.connect() as connection:
        query = select(func.count()).select_from(Dwelling).where(Dwelling.affected.is_(True))
        return connection.execute(query).scalar_one()


def _absent(page: Page) -> None:
    text = page.content()
    for heading, value in PLANTED.items():
        assert value not in text, f"{heading} value shown"


def _sign_in(page: Page, url: str, org: str, username: str, password: str) -> None:
    page.goto(f"{url}/")
    page.get_by_label("Organisation").fill(org)
    page.get_by_label("Brugernavn").fill(username)
    page.get_by_label("Adgangskode").fill(password)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(f"{url}/")


def _check_file(page: Page, url: str, export: Path) -> None:
    page.get_by_label("Eksportfil").set_input_files(export)
    page.get_by_role("button", name="Kontrollér filen").click()
    page.wait_for_url(f"{url}/genhusning/upload/*")


@pytest.mark.browser
@pytest.mark.slow
def test_a_rehousing_officer_previews_confirms_and_is_stopped_by_the_guard(
    database: Database, tmp_path: Path, page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    """Preview with one moved date and one withdrawn dwelling, store it; a cut-off export."""
    factory = make_session_factory(database.engine)
    with session_scope(factory) as session:
        ingest_file(session, write_csv(tmp_path / "a.csv", _rows(10)), org="bo-vest", now=NOW)
    officer = create_user(factory, role=Role.HOUSING, org="bo-vest")
    rows = with_personal(_rows(9), PLANTED)
    next(r for r in rows if r["Lejemålsnr"].endswith("-002"))["Startdato"] = "15-03-2027"
    export = write_csv(tmp_path / "skema.csv", rows)
    cut_off = write_csv(tmp_path / "afskaaret.csv", _rows(2))
    with serve_broker(database, tmp_path / "home") as served:
        requests = RequestLog(page)
        _sign_in(page, served.url, officer.org, officer.username, officer.password)
        page.get_by_role("link", name="Indlæs renoveringsplanen").click()
        page.wait_for_url(f"{served.url}/genhusning")
        check_axe(page)

        # 1. One changed date, one dwelling left out: previewed, nothing stored yet.
        _check_file(page, served.url, export)
        assert page.get_by_role("heading", name="Kontrollér ændringerne").count() == 1
        changed = page.locator("tr.upload-row--changed")
        assert changed.count() == 1
        assert "15. marts - 30. juni 2027" in changed.inner_text()
        assert page.locator("tr.upload-row--withdrawn").count() == 1
        _absent(page)
        check_axe(page)
        screenshot(page, "rehousing-preview")
        assert _affected(database) == 10
        page.get_by_role("button", name="Gem planen").click()
        page.wait_for_url(f"{served.url}/genhusning?besked=gemt")
        assert page.get_by_text("Planen er gemt.", exact=False).count() == 1
        assert _affected(database) == 9

        # 2. A cut-off export: refused until the count is ticked.
        _check_file(page, served.url, cut_off)
        assert page.get_by_text("Mange boliger er udeladt").count() == 1
        page.get_by_role("button", name="Gem planen").click()
        assert page.get_by_role("heading", name="Der er et problem").count() == 1
        check_axe(page)
        screenshot(page, "rehousing-guard")
        assert _affected(database) == 9
        page.get_by_label("Ja: 7 boliger er ikke længere berørt").check()
        page.get_by_role("button", name="Gem planen").click()
        page.wait_for_url(f"{served.url}/genhusning?besked=gemt")
        assert _affected(database) == 2

        # 3. The department's timeline.
        page.get_by_role("link", name="blokland").click()
        page.wait_for_url(f"{served.url}/genhusning/afdeling/blokland")
        assert page.get_by_role("cell", name="uge 9-26 2027").count() == 1
        check_axe(page)
        screenshot(page, "rehousing-timeline")
        assert requests.hosts() == {served.origin}


@pytest.mark.browser
@pytest.mark.slow
def test_a_rejected_file_lists_its_problems_in_danish(
    database: Database, tmp_path: Path, page: Page
) -> None:
    """A systematic error is one row of the table, in Danish; axe on the page."""
    officer = create_user(make_session_factory(database.engine), role=Role.HOUSING, org="bo-vest")
    rows = with_personal(_rows(12), PLANTED)
    for row in rows:
        row["Postnr"] = "26x0"
    bad = write_csv(tmp_path / "fejl.csv", rows)
    with serve_broker(database, tmp_path / "home") as served:
        _sign_in(page, served.url, officer.org, officer.username, officer.password)
        page.goto(f"{served.url}/genhusning")
        _check_file(page, served.url, bad)
        assert page.get_by_role("heading", name="Filen blev afvist").count() == 1
        assert page.get_by_role("cell", name="skal være et postnummer på 4 cifre").count() == 1
        _absent(page)
        check_axe(page)
