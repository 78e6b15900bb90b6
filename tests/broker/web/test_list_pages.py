"""The visitator's list pages and downloads, in process: who sees what, and nothing more.

A site with three lists to Albertslund (a first list; a ``changes`` list after a
re-upload that moves one rehousing, adds one dwelling and withdraws one; a list to
another of its recipients) and one to Glostrup, each made by the real release path
from an upload with personal values planted in every row.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from databases import Database
from fastapi import FastAPI
from listings import LATER, MUNICIPALITY, NOTICE, ListWorld, mixed_street_rows, rows, weekly
from openpyxl import load_workbook
from pypdf import PdfReader
from webclient import page_client, sign_in, web_app

from broker.access import Role
from broker.db import session_scope
from broker.disclosure import purge
from broker.policy import Mode
from tests.broker.test_privacy import PLANTED

MOVED = "ændret: genhusning flyttet fra uge 9 til uge 11"
UNKNOWN = "rel-0123456789abcdef01234567"
OTHER = "glostrup"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Stored by the broker, but not released by the weekly policy: the tenancy numbers, the
# department, the municipality code and the exact dates (released only as ISO weeks).
WITHHELD = ("0412-0000-", "blokland", "0165", "01-03-2027", "2027-03-01", "30-06-2027")
PAGES = ("/lister", "/lister/{id}", "/lister/{id}.xlsx", "/lister/{id}.pdf")

pytestmark = pytest.mark.anyio


@dataclass
class Site:
    """The broker and its lists: ``first``, ``second`` and ``care`` to Albertslund."""

    world: ListWorld
    app: FastAPI
    first: str
    second: str
    care: str
    glostrup: str

    @property
    def albertslund(self) -> tuple[str, str, str]:
        """Every list to Albertslund, oldest first."""
        return (self.first, self.second, self.care)


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    world = ListWorld(database, tmp_path / "home", weekly(Mode.CHANGES))
    world.upload(rows(6))
    first = world.release()
    world.upload(rows(1, first=2, phases=(NOTICE, LATER)) + rows(4, first=3) + rows(1, first=8))
    second = world.release()
    world.policy = weekly(id="albertslund-hjemmepleje-weekly", recipient="albertslund/hjemmepleje")
    care = world.release(deliver=False)
    world.policy = weekly(id="glostrup-visitation-weekly", recipient=f"{OTHER}/visitation")
    glostrup = world.release(deliver=False)
    app = web_app(database, world.home)
    return Site(world, app, first, second, care, glostrup)


async def _visitator(client: httpx.AsyncClient, site: Site, org: str = MUNICIPALITY) -> None:
    await sign_in(client, site.app.state.session_factory, role=Role.VISITATOR, org=org)


# -- reading the pages -------------------------------------------------------------------


@dataclass
class Table:
    """The list's table as rendered: its headings and each row's cell texts."""

    headings: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)


class _TableReader(HTMLParser):
    """Reads the ``list-table`` of a page: headings, cells (text, joined), row classes."""

    def __init__(self) -> None:
        super().__init__()
        self.table = Table()
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "table" and "list-table" in (names.get("class") or ""):
            self._inside = True
        elif self._inside and tag == "tr" and self.table.headings:
            self.table.rows.append([])
            self.table.classes.append(names.get("class") or "")
        elif self._inside and tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif self._inside and tag in {"td", "th"} and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if tag == "th":
                self.table.headings.append(text)
            else:
                self.table.rows[-1].append(text)
            self._cell = None
        elif self._inside and tag == "li" and self._cell is not None:
            self._cell.append(" | ")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _table(html: str) -> Table:
    reader = _TableReader()
    reader.feed(html)
    return reader.table


def _pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def _xlsx_rows(body: bytes, sheet: str = "Liste") -> list[list[Any]]:
    book = load_workbook(io.BytesIO(body))
    return [list(row) for row in book[sheet].iter_rows(values_only=True)]


def _xlsx_text(body: bytes) -> str:
    """Return every text cell of both sheets (date cells are checked apart: derived weeks)."""
    book = load_workbook(io.BytesIO(body))
    cells = (
        cell
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
    )
    return "\n".join(cell for cell in cells if isinstance(cell, str))


def _assert_nothing_personal(text: str, where: str) -> None:
    # Release ids, hashes and keys are hex: a withheld code could occur in one by chance.
    text = re.sub(r"[0-9a-f]{16,}", "", text)
    for heading, value in PLANTED.items():
        for needle in {value, value.replace(" ", ""), value.lower()}:
            assert needle not in text, f"{heading} value found in {where}"
    for value in WITHHELD:
        assert value not in text, f"a withheld value ({value}) found in {where}"


# -- who sees what ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.VISITATOR])
async def test_other_roles_are_refused_every_list_page(site: Site, role: Role) -> None:
    """A coordinator, housing user, auditor or admin gets 403 on every list page."""
    org = "bo-vest" if role in {Role.COORDINATOR, Role.HOUSING} else MUNICIPALITY
    async with page_client(site.app) as client:
        await sign_in(client, site.app.state.session_factory, role=role, org=org)
        for page in PAGES:
            answer = await client.get(page.format(id=site.first))
            assert answer.status_code == 403, page
            assert "Ikke for din rolle" in answer.text
            _assert_nothing_personal(answer.text, page)
            assert "Prøvevej" not in answer.text


async def test_signed_out_every_list_page_sends_to_sign_in(site: Site) -> None:
    """Signed out, each list page redirects to the sign-in page, coming back afterwards."""
    async with page_client(site.app) as client:
        for page in PAGES:
            path = page.format(id=site.first)
            answer = await client.get(path)
            assert answer.status_code == 303, page
            assert answer.headers["location"].startswith("/log-ind?next=")
            assert "Prøvevej" not in answer.text


async def test_a_visitator_sees_only_their_own_municipalitys_lists(site: Site) -> None:
    """Another municipality's list answers exactly the 404 of an unknown id, on every page."""
    async with page_client(site.app) as client:
        await _visitator(client, site, OTHER)
        newest = await client.get("/lister")
        assert newest.status_code == 200
        assert site.glostrup in newest.text
        for release_id in site.albertslund:
            assert release_id not in newest.text
        for page in PAGES[1:]:
            theirs = await client.get(page.format(id=site.first))
            unknown = await client.get(page.format(id=UNKNOWN))
            assert theirs.status_code == unknown.status_code == 404, page
            assert theirs.text.replace(site.first, "X") == unknown.text.replace(UNKNOWN, "X")
            assert theirs.headers["content-type"] == unknown.headers["content-type"]
            assert "Prøvevej" not in theirs.text


async def test_a_visitator_without_lists_is_told_so(database: Database, tmp_path: Path) -> None:
    """No list released yet: the page says so, in Danish."""
    app = web_app(database, tmp_path)
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.VISITATOR, org=MUNICIPALITY)
        answer = await client.get("/lister")
    assert answer.status_code == 200
    assert "Der er endnu ikke frigivet nogen liste til jer" in answer.text


# -- the list --------------------------------------------------------------------------


async def test_the_newest_list_sorted_with_what_changed(site: Site) -> None:
    """/lister/<id>: the table sorted as the listing, the change column, the earlier lists."""
    found = site.world.listing(site.second)
    async with page_client(site.app) as client:
        await _visitator(client, site)
        answer = await client.get(f"/lister/{site.second}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    table = _table(answer.text)
    assert table.headings == [
        "Adresse-id (DAR)",
        "Vejnavn",
        "Husnr.",
        "Etage",
        "Dør",
        "Postnr.",
        "By",
        "Fase / Periode",
        "Ændring siden forrige liste",
    ]
    assert [row[2] for row in table.rows] == [str(r.fields["husnr"]) for r in found.rows]
    changes = sorted(row[-1] for row in table.rows)
    assert changes == ["", "", "", "", "ny", "udgået", MOVED]
    assert "list-row--withdrawn" in table.classes
    assert any("genhusning: uge 11-26 2027" in row[-2] for row in table.rows)
    # Its series, with the shown one marked, and the other recipient's list apart.
    assert f'href="/lister/{site.first}"' in answer.text
    assert f'href="/lister/{site.second}"' not in answer.text
    assert f'href="/lister/{site.care}"' in answer.text
    assert f'href="/lister/{site.second}.xlsx"' in answer.text
    assert f'href="/lister/{site.second}.pdf"' in answer.text
    assert site.glostrup not in answer.text


async def test_lister_opens_the_newest_list(site: Site) -> None:
    """/lister is the newest list to the municipality (here: the other recipient's)."""
    async with page_client(site.app) as client:
        await _visitator(client, site)
        answer = await client.get("/lister")
    assert answer.status_code == 200
    assert f'href="/lister/{site.care}.xlsx"' in answer.text
    assert f'href="/lister/{site.second}"' in answer.text


async def test_the_filter_form_works_without_javascript(database: Database, tmp_path: Path) -> None:
    """A plain GET form: by street and by phase; a street not in the list is left off, said."""
    world = ListWorld(database, tmp_path / "home", weekly())
    world.upload(mixed_street_rows())
    release_id = world.release()
    app = web_app(database, world.home)
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.VISITATOR, org=MUNICIPALITY)
        whole = await client.get(f"/lister/{release_id}")
        street = await client.get(f"/lister/{release_id}", params={"vej": "Prøvevej"})
        both = await client.get(f"/lister/{release_id}", params={"vej": "Åvej", "fase": "varsling"})
        gone = await client.get(f"/lister/{release_id}", params={"vej": "Gl. Vej"})
        workbook = await client.get(f"/lister/{release_id}.xlsx", params={"vej": "Prøvevej"})
    assert 'method="get"' in whole.text
    assert '<select class="form-select" id="vej" name="vej">' in whole.text
    assert len(_table(whole.text).rows) == 10
    assert {row[1] for row in _table(street.text).rows} == {"Prøvevej"}
    assert len(_table(street.text).rows) == 6  # 2, 10 (four doors), 10A
    assert '<option value="Prøvevej" selected>' in street.text
    assert f'href="/lister/{release_id}.xlsx?vej=Pr%C3%B8vevej"' in street.text
    assert [row[1] for row in _table(both.text).rows] == ["Åvej"]
    assert gone.status_code == 200
    assert len(_table(gone.text).rows) == 10
    assert "Den valgte vej er ikke på denne liste" in gone.text
    assert 'href="#vej"' in gone.text
    streets = {row[1] for row in _xlsx_rows(workbook.content)[1:]}
    assert "Prøvevej" in streets
    assert "Åvej" not in streets


async def test_the_downloads_name_policy_version_hash_and_release(site: Site) -> None:
    """The XLSX (openpyxl) and the PDF (pypdf) of a list: its rows, and the trace to the log."""
    found = site.world.listing(site.second)
    release = found.release
    async with page_client(site.app) as client:
        await _visitator(client, site)
        workbook = await client.get(f"/lister/{site.second}.xlsx")
        pdf = await client.get(f"/lister/{site.second}.pdf")
    assert workbook.status_code == pdf.status_code == 200
    assert workbook.headers["content-type"] == XLSX
    assert pdf.headers["content-type"] == "application/pdf"
    assert workbook.headers["content-disposition"] == (
        f'attachment; filename="liste-{site.second}.xlsx"'
    )
    book = load_workbook(io.BytesIO(workbook.content))
    assert book.sheetnames == ["Liste", "Om listen"]
    about = {row[0]: row[1] for row in book["Om listen"].iter_rows(values_only=True)}
    assert about["Aftale (politik)"] == release.policy_id
    assert about["Aftalens version"] == "1"
    assert about["Aftalens hash (SHA-256)"] == release.policy_hash
    assert about["Udleverings-id"] == release.id
    sheet = book["Liste"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is not None
    assert MOVED in {row[-1] for row in sheet.iter_rows(values_only=True)}
    text = _pdf_text(pdf.content)
    for value in (release.policy_id, release.policy_hash, release.id, "Prøvevej"):
        assert value in text.replace("\n", ""), value
    assert "udgået" in text


# -- nothing but what was released ---------------------------------------------------------


def _released(site: Site) -> tuple[set[str], set[tuple[int, int]]]:
    """Every address value and every (week, year) the outbox released to Albertslund."""
    values: set[str] = set()
    weeks: set[tuple[int, int]] = set()
    for stored in site.world.outbox():
        if not stored.recipient.startswith(f"{MUNICIPALITY}/"):
            continue
        content = json.loads(stored.content)
        for record in content["dwellings"]:
            values |= {str(v) for k, v in record.items() if k not in {"key", "phases"}}
            for phase in record["phases"]:
                for end in ("startdato", "slutdato"):
                    year, week = str(phase[end]).split("-W")
                    weeks.add((int(week), int(year)))
    return values, weeks


_WEEKS = re.compile(r"uge ([0-9]+)(?:-([0-9]+))? ([0-9]{4})")


async def test_every_rendered_field_was_released_by_the_policy(site: Site) -> None:
    """Every cell of every list, on the page and in the XLSX, is a value the outbox released."""
    values, weeks = _released(site)
    named = set(site.world.policy.fields)
    async with page_client(site.app) as client:
        await _visitator(client, site)
        for release_id in site.albertslund:
            page = await client.get(f"/lister/{release_id}")
            table = _table(page.text)
            address_columns = len(table.headings) - 2
            assert address_columns == len(named - {"fase", "startdato", "slutdato"})
            for row in table.rows:
                assert set(row[:address_columns]) <= values | {""}, row
                for first, last, year in _WEEKS.findall(row[address_columns]):
                    assert (int(first), int(year)) in weeks
                    if last:
                        assert (int(last), int(year)) in weeks
            workbook = await client.get(f"/lister/{release_id}.xlsx")
            for row in _xlsx_rows(workbook.content)[1:]:
                assert {str(cell) for cell in row[:address_columns] if cell} <= values, row
                for cell in row[address_columns:]:
                    if isinstance(cell, dt.datetime):  # a phase's start: its week's Monday
                        year, week, weekday = cell.date().isocalendar()
                        assert (week, year) in weeks
                        assert weekday == 1


async def test_no_planted_or_withheld_value_on_any_page_or_download(site: Site) -> None:
    """Personal values in the upload, and stored fields the policy withholds: never shown."""
    async with page_client(site.app) as client:
        await _visitator(client, site)
        shown = [await client.get("/lister")]
        for release_id in site.albertslund:
            for page in PAGES[1:]:
                answer = await client.get(page.format(id=release_id))
                assert answer.status_code == 200
                shown.append(answer)
        shown += [await client.get(f"/lister/{site.second}?lang={lang}") for lang in ("da", "en")]
    for answer in shown:
        kind = answer.headers["content-type"]
        if kind == XLSX:
            text = _xlsx_text(answer.content)
        elif kind == "application/pdf":
            text = _pdf_text(answer.content)
        else:
            text = answer.text
        _assert_nothing_personal(text, str(answer.url))


async def test_a_list_deleted_at_the_end_of_its_retention_says_so(
    database: Database, tmp_path: Path
) -> None:
    """After the retention purge the page says the list was deleted, once, with no table."""
    world = ListWorld(database, tmp_path / "home", weekly())
    world.upload(rows(6))
    release_id = world.release()
    world.now += dt.timedelta(days=400)
    with session_scope(world.factory) as session:
        assert purge(session, world.ring, at=world.now, before=world.now.date()) > 0
    app = web_app(database, world.home)
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.VISITATOR, org=MUNICIPALITY)
        answer = await client.get("/lister")
    assert answer.status_code == 200
    assert answer.text.count("Denne liste er slettet ved udløbet af opbevaringsperioden.") == 1
    assert _table(answer.text).rows == []
    assert f"{release_id}.xlsx" not in answer.text
    assert "Prøvevej" not in answer.text


async def test_the_list_page_in_english(site: Site) -> None:
    """``?lang=en``: the same list, its words in English."""
    async with page_client(site.app) as client:
        await _visitator(client, site)
        answer = await client.get(f"/lister/{site.second}", params={"lang": "en"})
    table = _table(answer.text)
    assert table.headings[1] == "Street"
    assert "changed: rehousing moved from week 9 to week 11" in {row[-1] for row in table.rows}
    assert "Download the list" in answer.text
    assert "Hent listen" not in answer.text
