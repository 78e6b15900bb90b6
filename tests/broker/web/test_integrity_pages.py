"""The log's integrity and exports for the DPO: verify now, the witnesses, the two exports."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from databases import Database
from fastapi import FastAPI
from listings import ListWorld, rows, weekly
from openpyxl import load_workbook
from sqlalchemy import text
from webclient import WebUser, page_client, sign_in, web_app

from broker.access import Role
from broker.db import session_scope
from broker.disclosure import Reader, export_log
from broker.errors import InputError
from tests.audit.test_tamper import entry_of, set_entry, unguard
from tests.broker.test_privacy import _assert_absent

pytestmark = pytest.mark.anyio

GDPR = "GDPR Art. 6(1)(f) (housing company); Art. 6(1)(e) (municipality)"


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    """One weekly list released and delivered by the real path, then the broker's app."""
    home = tmp_path / "home"
    world = ListWorld(database, home, weekly())
    world.upload(rows(6))
    world.release()
    return web_app(database, home)


def _reads(app: FastAPI) -> int:
    with session_scope(app.state.session_factory) as session:
        query = text("SELECT count(*) FROM log_entry_facts WHERE event = 'audit-read'")
        return int(session.scalar(query) or 0)


async def _auditor(client: object, app: FastAPI) -> WebUser:
    return await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")  # type: ignore[arg-type]


async def test_verify_now_shows_the_size_and_root_and_is_on_record(app: FastAPI) -> None:
    """The button verifies the whole log; without witnesses the page says so."""
    async with page_client(app) as client:
        user = await _auditor(client, app)
        page = await client.get("/integritet")
        assert page.status_code == 200
        assert "Der er ikke sat noget vidne op" in page.text
        before = _reads(app)
        refused = await client.post("/integritet", data={})
        assert refused.status_code == 403
        verified = await client.post("/integritet", data=user.form())
    assert verified.status_code == 200
    assert "Hele loggen holder" in verified.text
    assert "Loggens rod ved den størrelse" in verified.text
    assert _reads(app) == before + 1


async def test_a_changed_entry_is_shown_in_red_with_its_number(
    app: FastAPI, database: Database
) -> None:
    """An entry changed behind the broker's back: the first bad entry, as an error."""
    with database.engine.begin() as connection:
        unguard(connection, database.backend, "log_entries")
        changed = entry_of(connection, 0).replace(b'"albertslund/visitation"', b'"elsewhere/x"')
        set_entry(connection, 0, changed)
    async with page_client(app) as client:
        user = await _auditor(client, app)
        before = _reads(app)
        page = await client.post("/integritet", data=user.form())
    assert 'class="alert alert-error"' in page.text
    assert "Loggen holder ikke" in page.text
    assert "Post 0 holder ikke" in page.text
    assert _reads(app) == before


async def test_the_bundle_verifies_offline_and_the_sheet_has_both_bases(
    app: FastAPI, tmp_path: Path
) -> None:
    """The JSON-lines bundle passes python -m audit.verify; the XLSX has the legal bases."""
    async with page_client(app) as client:
        await _auditor(client, app)
        bundle = await client.get("/integritet/udleveringslog.jsonl")
        sheet = await client.get("/integritet/udleveringslog.xlsx")
    assert bundle.status_code == 200
    path = tmp_path / "log.jsonl"
    path.write_bytes(bundle.content)
    pem = tmp_path / "log-public.pem"
    pem.write_bytes(app.state.keys.ring().public_pem())
    checked = subprocess.run(  # noqa: ASYNC221 - the verifier is a separate program
        [sys.executable, "-m", "audit.verify", str(path), "--public-key", str(pem)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    book = load_workbook(io.BytesIO(sheet.content))
    table = list(book["Udleveringslog"].iter_rows(values_only=True))
    assert table[0][9:11] == ("Retsgrundlag (GDPR)", "Retsgrundlag (national ret)")
    releases = [row for row in table[1:] if row[2] == "release"]
    assert [row[9] for row in releases] == [GDPR]
    assert releases[0][12] == 6  # dwellings counted, never listed
    _assert_absent(bundle.content, "the bundle")
    _assert_absent(sheet.content, "the spreadsheet")


async def test_a_non_party_gets_nothing(app: FastAPI) -> None:
    """An organisation no agreement names: the verification and the exports answer 404."""
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="glostrup")
        assert (await client.post("/integritet", data=user.form())).status_code == 404
        assert (await client.get("/integritet/udleveringslog.jsonl")).status_code == 404


def test_the_table_export_of_every_entry_is_the_operators_only(app: FastAPI) -> None:
    """The CSV holds every entry, so an organisation's reader is refused it (nothing recorded)."""
    before = _reads(app)
    with session_scope(app.state.session_factory) as session, pytest.raises(InputError):
        export_log(
            session,
            app.state.keys.ring(),
            app.state.settings,
            Reader("user:x", "bo-vest"),
            io.StringIO(),
            at=dt.datetime.now(dt.UTC),
            fmt="csv",
        )
    assert _reads(app) == before
