"""The DPO in Debian's Chromium against the real `broker serve`: an access request, the texts.

Finds a dwelling by a partial address, reads every disclosure about it and downloads the
letter (its text read with pypdf: both legal bases, the values released, the delivery, the
receipts appendix), then reads an agreement's exact text. axe-core finds no WCAG 2.1 A/AA
violation on any page, and each is saved as a screenshot.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from browsing import RequestLog, check_axe, serve_broker
from databases import Database
from listings import ListWorld, rows, weekly
from playwright.sync_api import Page
from pypdf import PdfReader
from webclient import create_user

from broker.access import Role
from broker.db import make_session_factory
from tests.broker.test_privacy import PLANTED

ADDRESS = "Prøvevej 1, st. mf, 2620 Albertslund"


@pytest.mark.browser
@pytest.mark.slow
def test_the_dpo_answers_an_access_request_and_reads_an_agreement(
    database: Database, tmp_path: Path, page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    """Partial address, the disclosures, the letter; then an agreement's terms and text."""
    home = tmp_path / "home"
    world = ListWorld(database, home, weekly())
    world.upload(rows(6))
    world.release()
    user = create_user(make_session_factory(database.engine), role=Role.AUDITOR, org="bo-vest")
    with serve_broker(database, home) as served:
        requests = RequestLog(page)
        page.goto(f"{served.url}/indsigt")
        page.get_by_label("Organisation").fill(user.org)
        page.get_by_label("Brugernavn").fill(user.username)
        page.get_by_label("Adgangskode").fill(user.password)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url(f"{served.url}/indsigt")
        check_axe(page)

        # 1. The resident wrote "prøvevej 1 st mf": the beginning is enough.
        page.get_by_label("Adresse").fill("prøvevej 1 st m")
        page.get_by_role("button", name="Søg").click()
        page.get_by_role("link", name=ADDRESS).click()
        page.wait_for_url("**/indsigt/dw-*")
        assert page.get_by_role("heading", name=ADDRESS, exact=True).count() == 1
        assert page.get_by_text("Serviceloven §§ 83 og 85").count() == 1
        check_axe(page)
        screenshot(page, "dpo-access-request")

        # 2. The letter: everything, and how to check it.
        with page.expect_download() as letter:
            page.get_by_role("link", name="Brevet til beboeren (PDF) med kvitteringerne").click()
        reader = PdfReader(io.BytesIO(Path(letter.value.path()).read_bytes()))
        text = " ".join("".join(p.extract_text() for p in reader.pages).split())
        for expected in (
            "GDPR Art. 6(1)(f) (housing company); Art. 6(1)(e) (municipality)",
            "Serviceloven §§ 83 og 85",
            "Prøvevej",
            "uge 9-26 2027",
            "leveret",
            "Bilag: sådan efterprøver du dette brev",
            "c2sp.org/tlog-proof@v1",
        ):
            assert expected in text, expected
        assert any(name.endswith(".tlog-proof") for name in reader.attachments)
        for value in PLANTED.values():
            assert value not in text

        # 3. An agreement's exact text, from the list of versions.
        page.goto(f"{served.url}/aftaler")
        check_axe(page)
        page.get_by_role("link", name="albertslund-visitation-weekly").click()
        page.wait_for_url("**/aftaler/*")
        assert page.get_by_text("Dette er aftalens første version.").count() == 1
        check_axe(page)
        screenshot(page, "dpo-agreement")
        for value in PLANTED.values():
            assert value not in page.content()
        assert requests.hosts() == {served.origin}
