"""The rehousing team's pages: an upload previewed, guarded, confirmed or discarded; the timeline.

Against the real app in process on SQLite and PostgreSQL, signed in as a housing user.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import PERSONAL_HEADINGS, csv_bytes, dwelling_rows, export_row, with_personal
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy import func, select
from webclient import WebUser, page_client, sign_in, web_app

from broker.access import Role
from broker.db import session_scope
from broker.ingest import ingest_bytes
from broker.renovation import Dwelling, Upload
from tests.broker.test_privacy import PLANTED

pytestmark = pytest.mark.anyio

MARCH, JUNE = dt.date(2027, 3, 1), dt.date(2027, 6, 30)
# Loaded before the tests upload (the pages run on the real clock).
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def _rows(count: int, *, first: int = 1) -> list[dict[str, str]]:
    return dwelling_rows(count, first=first, phases=(("genhusning", MARCH, JUNE),))


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    app = web_app(database, tmp_path)
    with session_scope(app.state.session_factory) as session:
        rows = with_personal(_rows(10), PLANTED)  # what is stored has none of it
        ingest_bytes(session, csv_bytes(rows), name="a.csv", org="bo-vest", now=NOW)
    return app


def _count(app: FastAPI, model: type[object], **where: object) -> int:
    with session_scope(app.state.session_factory) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query) or 0


async def _upload(
    client: httpx.AsyncClient, user: WebUser, data: bytes, name: str = "skema.csv"
) -> httpx.Response:
    return await client.post(
        "/genhusning/upload", data=user.form(), files={"file": (name, data, "text/csv")}
    )


def _absent(text: str) -> None:
    for heading, value in PLANTED.items():
        assert value not in text, f"{heading} value shown"


async def test_a_preview_shows_each_change_and_stores_only_when_confirmed(app: FastAPI) -> None:
    # Dwelling 2 moves a fortnight; dwelling 10 is left out (1 of 10: under the share).
    rows = with_personal(_rows(9), PLANTED)
    moved = next(r for r in rows if r["Lejemålsnr"].endswith("-002"))
    moved["Startdato"] = "15-03-2027"
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        front = await client.get("/genhusning")
        sent = await _upload(client, user, csv_bytes(rows))
        assert sent.status_code == 303, sent.text
        preview = await client.get(sent.headers["location"])
        assert _count(app, Upload) == 1  # nothing stored yet
        stored = await client.post(sent.headers["location"], data=user.form())
        after = await client.get(stored.headers["location"])
        gone = await client.get(sent.headers["location"])
    assert front.status_code == 200
    assert "Indlæs en ny plan" in front.text
    _absent(front.text)
    assert preview.status_code == 200
    text = preview.text
    assert "Kontrollér ændringerne" in text
    assert "1 ændrede" in text
    assert "1 ikke længere berørt (af 10 berørte nu)" in text
    assert "8 uændrede" in text
    assert "genhusning: 1. marts - 30. juni 2027 → 15. marts - 30. juni 2027" in text
    assert "Prøvevej 1, 3. tv, 2620 Albertslund" in text  # dwelling 10, left out
    assert "Fjernede kolonner (gemmes aldrig): " + ", ".join(PERSONAL_HEADINGS) in text
    assert 'name="allow_withdraw"' not in text  # 10 % is under the share: no confirmation
    _absent(text)
    assert stored.status_code == 303
    assert stored.headers["location"] == "/genhusning?besked=gemt"
    assert "Planen er gemt." in after.text
    assert _count(app, Upload) == 2
    assert _count(app, Dwelling, affected=False) == 1
    assert gone.status_code == 404  # confirmed: no longer waiting


async def test_a_cut_off_export_needs_its_count_confirmed(app: FastAPI) -> None:
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        sent = await _upload(client, user, csv_bytes(_rows(2)))
        where = sent.headers["location"]
        preview = await client.get(where)
        refused = await client.post(where, data=user.form())
        assert _count(app, Upload) == 1
        too_few = await client.post(where, data=user.form(allow_withdraw="7"))
        stored = await client.post(where, data=user.form(allow_withdraw="8"))
    assert "Mange boliger er udeladt" in preview.text
    assert "Filen vil markere 8 af afdelingens 10 berørte boliger" in preview.text
    assert 'name="allow_withdraw" type="checkbox" value="8"' in preview.text
    assert refused.status_code == too_few.status_code == 409
    assert 'href="#allow_withdraw"' in refused.text
    assert "Sæt kryds for at bekræfte, at 8 boliger ikke længere er berørt" in refused.text
    assert stored.status_code == 303
    assert _count(app, Dwelling, affected=False) == 8


async def test_a_rejected_upload_lists_its_problems_grouped_and_as_a_sheet(app: FastAPI) -> None:
    rows = [
        export_row(Lejemålsnr=f"0412-0001-{n:03d}", Postnr="26x0", **PLANTED) for n in range(1, 13)
    ]
    rows.append(export_row(Lejemålsnr="0412-0002-001", Dør=PLANTED["Lejer navn"]))
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        sent = await _upload(client, user, csv_bytes(rows))
        page = await client.get(sent.headers["location"])
        sheet = await client.get(sent.headers["location"] + "/problemer.xlsx")
        confirmed = await client.post(sent.headers["location"], data=user.form())
    assert page.status_code == 200
    assert "Filen blev afvist" in page.text
    assert "Der blev fundet 13 fejl" in page.text
    assert "skal være et postnummer på 4 cifre" in page.text
    assert "<td>12</td>" in page.text
    assert "<td>2, 3, 4, 5, 6 …</td>" in page.text
    _absent(page.text)
    assert sheet.status_code == 200
    assert sheet.headers["content-disposition"] == 'attachment; filename="problemer.xlsx"'
    workbook = load_workbook(io.BytesIO(sheet.content))
    cells = [tuple(row) for row in workbook.active.iter_rows(values_only=True)]
    assert cells[0] == ("Række", "Kolonne", "Regel")
    assert len(cells) == 14
    assert (cells[1][0], cells[1][1]) == (2, "Postnr")
    assert (cells[-1][0], cells[-1][1]) == (14, "Dør")
    _absent(repr(cells))
    assert confirmed.status_code == 404
    assert _count(app, Upload) == 1


async def test_an_upload_is_its_officers_alone_and_can_be_discarded(app: FastAPI) -> None:
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        sent = await _upload(client, user, csv_bytes(_rows(10)))
        where = sent.headers["location"]
    async with page_client(app) as other:
        colleague = await sign_in(
            other, app.state.session_factory, role=Role.HOUSING, org="bo-vest"
        )
        seen = await other.get(where)
        confirmed = await other.post(where, data=colleague.form())
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        # A new sign-in is the same officer only if it is the same user: this one is not.
        assert (await client.get(where)).status_code == 404
    assert seen.status_code == confirmed.status_code == 404


async def test_discarding_stores_nothing(app: FastAPI) -> None:
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        sent = await _upload(client, user, csv_bytes(_rows(3)))
        where = sent.headers["location"]
        discarded = await client.post(where + "/annuller", data=user.form())
        after = await client.get(discarded.headers["location"])
        gone = await client.get(where)
    assert discarded.headers["location"] == "/genhusning?besked=annulleret"
    assert "Indlæsningen er annulleret" in after.text
    assert gone.status_code == 404
    assert _count(app, Upload) == 1
    assert _count(app, Dwelling, affected=True) == 10


async def test_a_form_without_a_file_or_of_another_type_is_refused(app: FastAPI) -> None:
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        empty = await client.post("/genhusning/upload", data=user.form())
        pdf = await _upload(client, user, b"%PDF-1.4", name="Bodil Hansen.pdf")
    assert empty.status_code == pdf.status_code == 422
    assert "Vælg en eksportfil" in empty.text
    assert 'href="#file"' in empty.text
    assert "Filen skal være en eksport i CSV eller XLSX" in pdf.text
    assert "Bodil" not in pdf.text


async def test_an_organisation_no_agreement_names_cannot_upload(app: FastAPI) -> None:
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="fsb")
        refused = await _upload(client, user, csv_bytes(_rows(3)))
    assert refused.status_code == 422
    assert "Ingen aftale nævner din organisation (fsb)" in refused.text
    assert _count(app, Upload) == 1


async def test_the_timeline_shows_each_stairwell_by_week(app: FastAPI) -> None:
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        page = await client.get("/genhusning/afdeling/blokland")
        english = await client.get("/genhusning/afdeling/blokland?lang=en")
        other = await client.get("/genhusning/afdeling/andenblok")
    assert page.status_code == 200
    assert "Tidsplan for afdeling blokland" in page.text
    assert '<th scope="row">Prøvevej 1, 2620 Albertslund</th>' in page.text
    assert "<td>10</td>" in page.text
    assert "uge 9-26 2027" in page.text
    assert "Timeline of department blokland" in english.text
    assert other.status_code == 404
    _absent(page.text)
    _absent(english.text)


async def test_a_preview_made_stale_by_another_upload_is_shown_again(app: FastAPI) -> None:
    """Stored meanwhile by a colleague: the confirmation shows the changes as they are now."""
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        sent = await _upload(client, user, csv_bytes(_rows(10)))
        where = sent.headers["location"]
        first = await client.get(where)
        moved = dwelling_rows(10, phases=(("genhusning", dt.date(2027, 5, 3), JUNE),))
        with session_scope(app.state.session_factory) as session:
            later = dt.datetime.now(dt.UTC)
            ingest_bytes(session, csv_bytes(moved), name="b.csv", org="bo-vest", now=later)
        stale = await client.post(where, data=user.form())
        stored = await client.post(where, data=user.form())
    assert "10 uændrede" in first.text
    assert stale.status_code == 409
    assert "Planen er blevet ændret af en anden indlæsning" in stale.text
    assert "10 ændrede" in stale.text
    assert "genhusning: 3. maj - 30. juni 2027 → 1. marts - 30. juni 2027" in stale.text
    assert stored.status_code == 303


async def test_a_change_beyond_the_phases_is_shown(app: FastAPI) -> None:
    rows = _rows(10)
    for row in rows:
        if row["Lejemålsnr"].endswith("-001"):
            row["Disposition"] = "nedrives"
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.HOUSING, org="bo-vest")
        sent = await _upload(client, user, csv_bytes(rows))
        preview = await client.get(sent.headers["location"])
    assert "1 ændrede" in preview.text
    assert "renoveres → nedrives" in preview.text


async def test_a_file_over_the_body_limit_gets_the_danish_error_page(
    database: Database, tmp_path: Path
) -> None:
    """Refused before it is read, as the API refuses it, but as a page for the browser."""
    small = web_app(database, tmp_path, api_max_body=20_000)
    async with page_client(small) as client:
        user = await sign_in(client, small.state.session_factory, role=Role.HOUSING, org="bo-vest")
        refused = await _upload(client, user, csv_bytes(_rows(400)))
        api = await client.post("/v1/schedules", content=b"x" * 30_000)
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert "Der blev sendt for meget" in refused.text
    assert api.status_code == 413
    assert api.headers["content-type"] == "application/problem+json"
