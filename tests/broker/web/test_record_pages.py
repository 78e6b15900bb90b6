"""The record of processing as a page, XLSX and PDF: every Art. 30(1) letter, traced to the log."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from databases import Database
from factories import dwelling_rows, with_personal, write_csv
from fastapi import FastAPI
from openpyxl import load_workbook
from pypdf import PdfReader
from webclient import page_client, sign_in, web_app

from broker.access import Role
from broker.config import ControllerSettings, Settings
from broker.db import session_scope
from broker.disclosure import EntryFilter, entries
from broker.ingest.service import ingest_file
from broker.keys import init_keys
from tests.broker.test_privacy import PLANTED, _assert_absent

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2027, 2, 22, 9, 0, tzinfo=dt.UTC)

CONTROLLER = ControllerSettings(
    org="bo-vest",
    name="Boligselskabet Vest (demo)",
    contact="Demovej 1, 2620 Albertslund",
    dpo="dpo@bo-vest.example",
)
SECTIONS = (
    "a) Den dataansvarlige og databeskyttelsesrådgiveren",
    "b) Formålene med behandlingen",
    "c) Kategorierne af registrerede og af personoplysninger",
    "d) Modtagerne",
    "e) Overførsler til tredjelande eller internationale organisationer",
    "f) Tidsfrister for sletning",
    "g) Tekniske og organisatoriske sikkerhedsforanstaltninger",
)


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    """The broker with its keys (the agreements go on record at start) and a loaded schedule."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    made = web_app(database, home, controllers=(CONTROLLER,))
    rows = with_personal(dwelling_rows(4), PLANTED)
    with session_scope(made.state.session_factory) as session:
        ingest_file(session, write_csv(tmp_path / "export.csv", rows), org="bo-vest", now=NOW)
    return made


def _registrations(app: FastAPI) -> dict[str, int]:
    with session_scope(app.state.session_factory) as session:
        found = entries(session.connection(), EntryFilter(event="policy-registered"))
        return {entry["policy_hash"]: entry["seq"] for entry in found}


async def test_the_dpo_reads_every_letter_with_each_agreements_hash_and_entry(app: FastAPI) -> None:
    """Sections a-g in Danish, both legal bases, and each agreement's hash and log entry."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        start = await client.get("/")
        assert 'href="/fortegnelse"' in start.text
        page = await client.get("/fortegnelse")
    assert page.status_code == 200
    for heading in SECTIONS:
        assert heading in page.text
    assert "Boligselskabet Vest (demo)" in page.text
    assert "dpo@bo-vest.example" in page.text
    assert "Serviceloven §§ 83 og 85" in page.text
    assert "6 måneder" in page.text
    assert "beboere i de berørte boliger" in page.text
    registrations = _registrations(app)
    assert len(registrations) == 3
    shown = {h for h in registrations if h in page.text}
    assert len(shown) == 2  # the reply is albertslund's own record
    for content_hash in shown:
        assert f"#{registrations[content_hash]}" in page.text


async def test_the_downloads_say_the_same(app: FastAPI) -> None:
    """The workbook has one row per agreement with the hash; the PDF names every letter."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        xlsx = await client.get("/fortegnelse.xlsx")
        pdf = await client.get("/fortegnelse.pdf")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-disposition"] == 'attachment; filename="fortegnelse-bo-vest.xlsx"'
    book = load_workbook(io.BytesIO(xlsx.content))
    sheet = book["Fortegnelse"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("Aftale", "Version", "Hash (SHA-256)", "Logpost")
    registrations = _registrations(app)
    assert {row[0] for row in rows[1:]} == {
        "albertslund-contact-check",
        "albertslund-visitation-weekly",
    }
    for row in rows[1:]:
        assert registrations[str(row[2])] == row[3]
    assert sheet.freeze_panes == "A2"
    assert pdf.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    text = " ".join(text.split())
    for heading in SECTIONS:
        assert heading in text
    assert "Serviceloven §§ 83 og 85" in text
    _assert_absent(xlsx.content, "the record's XLSX")
    _assert_absent(text.encode(), "the record's PDF")


async def test_in_english_and_without_a_configured_controller(
    database: Database, tmp_path: Path
) -> None:
    """?lang=en gives English; an unconfigured controller is said to be unconfigured."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    app = web_app(database, home)
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        page = await client.get("/fortegnelse", params={"lang": "en"})
    assert "a) The controller and the data protection officer" in page.text
    assert "Not configured: set controllers in the broker&#39;s configuration." in page.text


async def test_an_organisation_without_agreements_has_an_empty_record(app: FastAPI) -> None:
    """An auditor of an organisation no agreement discloses for: no processing, said plainly."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="glostrup")
        page = await client.get("/fortegnelse")
    assert page.status_code == 200
    assert "fortegnelsen viser ingen behandling" in page.text
    assert "albertslund-visitation-weekly" not in page.text


async def test_no_planted_value_reaches_the_record(app: FastAPI) -> None:
    """The page in both languages holds none of the planted personal values."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        for lang in ("da", "en"):
            page = await client.get("/fortegnelse", params={"lang": lang})
            _assert_absent(page.content, f"/fortegnelse ({lang})")
