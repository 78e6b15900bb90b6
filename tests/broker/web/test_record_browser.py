"""The DPO produces the record of processing in Debian's Chromium against the real `broker serve`.

Signs in, opens the record from the start page, reads every Art. 30(1) letter, and
downloads the PDF (its text read with pypdf) and the XLSX (opened with openpyxl); axe-core
finds no WCAG 2.1 A/AA violation, and the page is saved as a screenshot.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from browsing import RequestLog, check_axe, serve_broker
from databases import Database
from openpyxl import load_workbook
from playwright.sync_api import Page
from pypdf import PdfReader
from webclient import create_user

from broker.access import Role
from broker.db import make_session_factory

CONTROLLERS = [
    {
        "org": "bo-vest",
        "name": "Boligselskabet Vest (demo)",
        "contact": "Demovej 1, 2620 Albertslund",
        "dpo": "dpo@bo-vest.example",
    }
]


@pytest.mark.browser
@pytest.mark.slow
def test_the_dpo_produces_the_record_of_processing(
    database: Database, tmp_path: Path, page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    """Start page, the record, its PDF and XLSX: the same agreements, both legal bases."""
    user = create_user(make_session_factory(database.engine), role=Role.AUDITOR, org="bo-vest")
    settings = {"BROKER_CONTROLLERS": json.dumps(CONTROLLERS)}
    with serve_broker(database, tmp_path / "home", settings=settings) as served:
        requests = RequestLog(page)
        page.goto(f"{served.url}/")
        page.get_by_label("Organisation").fill(user.org)
        page.get_by_label("Brugernavn").fill(user.username)
        page.get_by_label("Adgangskode").fill(user.password)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url(f"{served.url}/")
        page.get_by_role("link", name="Fortegnelse over behandlinger (art. 30)").click()
        page.wait_for_url(f"{served.url}/fortegnelse")
        heading = "g) Tekniske og organisatoriske sikkerhedsforanstaltninger"
        assert page.get_by_role("heading", name=heading).count() == 1
        assert page.get_by_text("Serviceloven §§ 83 og 85").count() == 1
        check_axe(page)
        screenshot(page, "dpo-record")

        with page.expect_download() as pdf:
            page.get_by_role("link", name="Til print (PDF)").click()
        reader = PdfReader(io.BytesIO(Path(pdf.value.path()).read_bytes()))
        text = " ".join("".join(p.extract_text() for p in reader.pages).split())
        assert "Boligselskabet Vest (demo)" in text
        assert "Serviceloven §§ 83 og 85" in text
        with page.expect_download() as xlsx:
            page.get_by_role("link", name="Som regneark (XLSX)").click()
        book = load_workbook(io.BytesIO(Path(xlsx.value.path()).read_bytes()))
        names = {row[0] for row in book["Fortegnelse"].iter_rows(min_row=2, values_only=True)}
        assert names == {"albertslund-contact-check", "albertslund-visitation-weekly"}
        assert requests.hosts() == {served.origin}
