"""The DPO's disclosure log pages: the list newest first, filters, paging, one entry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from databases import Database
from fastapi import FastAPI
from listings import ListWorld, rows, weekly
from sqlalchemy import text
from webclient import page_client, sign_in, web_app

from audit import Draft, EntryValue
from broker.access import Role
from broker.db import session_scope
from broker.disclosure import record
from tests.broker.test_privacy import PLANTED, _assert_absent

pytestmark = pytest.mark.anyio

RECIPIENT = "albertslund/visitation"
_ROW = re.compile(r'<a href="/logbog/(\d+)">')


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    """One weekly list of six dwellings (planted personal data in the export) released."""
    home = tmp_path / "home"
    world = ListWorld(database, home, weekly())
    world.upload(rows(6))
    world.release()
    return web_app(database, home)


def _seqs(html: str) -> list[int]:
    return [int(seq) for seq in _ROW.findall(html)]


def _grow(app: FastAPI, count: int) -> None:
    """Append ``count`` deliveries to the municipality (bo-vest's auditor may read them)."""
    drafts = []
    for n in range(count):
        fields: dict[str, EntryValue] = {
            "time": "2027-02-23T08:00:00Z",
            "event": "delivery",
            "actor": "broker",
            "recipient": RECIPIENT,
            "discloser": "bo-vest",
            "attempts": n,
        }
        drafts.append(Draft(fields))
    with session_scope(app.state.session_factory) as session:
        record(session, app.state.keys.ring(), drafts)


async def _auditor(client: httpx.AsyncClient, app: FastAPI, org: str = "bo-vest") -> None:
    await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org=org)


def _reads(app: FastAPI) -> int:
    with session_scope(app.state.session_factory) as session:
        query = text("SELECT count(*) FROM log_entry_facts WHERE event = 'audit-read'")
        return int(session.scalar(query) or 0)


async def test_the_list_is_danish_newest_first_and_on_record(app: FastAPI) -> None:
    """Each row: when in Danish time, the event in Danish, to whom, the agreement, dwellings."""
    async with page_client(app) as client:
        await _auditor(client, app)
        start = await client.get("/")
        before = _reads(app)
        page = await client.get("/logbog")
    assert 'href="/logbog"' in start.text
    assert "Udleveringslog" in start.text
    assert page.status_code == 200
    assert "<h1>Udleveringsloggen</h1>" in page.text
    seqs = _seqs(page.text)
    assert seqs == sorted(seqs, reverse=True)
    assert "<td>Udleveret på en liste</td>" in page.text
    assert "<td>Aftaleversion registreret</td>" in page.text
    assert RECIPIENT in page.text
    assert "albertslund-visitation-weekly, version 1" in page.text
    assert re.search(r"<td>\d+\. februar 2027 kl\. \d\d\.\d\d</td>", page.text)
    assert "<td>6</td>" in page.text  # six dwellings released, counted
    assert _reads(app) == before + 1
    _assert_absent(page.content, "the log page")


async def test_filters_narrow_in_the_database_and_say_0_entries(app: FastAPI) -> None:
    """Event, recipient, agreement and period filter; a bad date is named; none is 0 poster."""
    async with page_client(app) as client:
        await _auditor(client, app)
        releases = await client.get("/logbog", params={"haendelse": "release"})
        recipient = await client.get("/logbog", params={"modtager": RECIPIENT})
        nobody = await client.get("/logbog", params={"modtager": "nobody/none"})
        period = await client.get("/logbog", params={"fra": "2030-01-01", "til": "2030-01-31"})
        bad = await client.get("/logbog", params={"fra": "1. marts", "til": "2027-02-01"})
        reversed_period = await client.get(
            "/logbog", params={"fra": "2027-03-01", "til": "2027-02-01"}
        )
    assert len(_seqs(releases.text)) == 1
    assert "<td>Aftaleversion registreret</td>" not in releases.text
    assert 'value="release" selected' in releases.text
    assert _seqs(recipient.text)
    assert "<td>Læst af en revisor</td>" not in recipient.text  # a read names no recipient
    for empty in (nobody, period):
        assert _seqs(empty.text) == []
        assert "0 poster" in empty.text
        assert "Ingen post, du må læse, passer til filteret." in empty.text
    assert 'href="#fra"' in bad.text
    assert "Skriv datoen som ÅÅÅÅ-MM-DD" in bad.text
    assert "Periodens slutning ligger før dens start." in reversed_period.text


async def test_pages_of_25_go_older_and_newer_by_cursor(app: FastAPI) -> None:
    """60 more entries: 25 a page, the older page follows on, newer goes back."""
    _grow(app, 60)
    async with page_client(app) as client:
        await _auditor(client, app)
        first = await client.get("/logbog", params={"haendelse": "delivery"})
        older_link = re.search(r'href="(/logbog\?[^"]*foer=\d+)"', first.text)
        assert older_link is not None
        second = await client.get(older_link.group(1).replace("&amp;", "&"))
        newer_link = re.search(r'href="(/logbog\?[^"]*efter=\d+)"', second.text)
        assert newer_link is not None
        back = await client.get(newer_link.group(1).replace("&amp;", "&"))
    one, two = _seqs(first.text), _seqs(second.text)
    assert len(one) == len(two) == 25
    assert min(one) > max(two)
    assert _seqs(back.text) == one
    assert "haendelse=delivery" in older_link.group(1)


async def test_one_entry_reads_in_danish_with_its_canonical_json(app: FastAPI) -> None:
    """The release entry: the facts, the agreement's link, the leaf hash, the exact JSON."""
    async with page_client(app) as client:
        await _auditor(client, app)
        listed = await client.get("/logbog", params={"haendelse": "release"})
        (seq,) = _seqs(listed.text)
        page = await client.get(f"/logbog/{seq}")
        unknown = await client.get("/logbog/999999")
        junk = await client.get("/logbog/abc")
    assert page.status_code == 200
    assert f"Post {seq}: Udleveret på en liste" in page.text
    assert "Til albertslund/visitation" in page.text
    assert "Retsgrundlag (GDPR)" in page.text
    assert re.search(r'<a href="/aftaler/[0-9a-f]{64}">', page.text)
    assert re.search(r'<code class="hash">[0-9a-f]{64}</code>', page.text)
    canonical = re.search(r'<pre class="receipt"><code>(.*?)</code></pre>', page.text, re.DOTALL)
    assert canonical is not None
    entry = json.loads(canonical.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert entry["seq"] == seq
    assert entry["event"] == "release"
    assert unknown.status_code == junk.status_code == 404
    assert "Posten findes ikke" in unknown.text
    _assert_absent(page.content, "the entry page")


async def test_another_organisation_sees_none_of_it(app: FastAPI) -> None:
    """An organisation no entry concerns: 0 entries, and each entry is 404 to it."""
    async with page_client(app) as client:
        await _auditor(client, app)
        listed = await client.get("/logbog", params={"haendelse": "release"})
        (seq,) = _seqs(listed.text)
        client.cookies.clear()
        await _auditor(client, app, org="glostrup")
        page = await client.get("/logbog", params={"haendelse": "release"})
        entry = await client.get(f"/logbog/{seq}")
    assert _seqs(page.text) == []
    assert "0 poster" in page.text
    assert entry.status_code == 404


async def test_typed_filter_values_are_not_put_on_record(app: FastAPI) -> None:
    """A personal value typed into a filter is never written into the log's read entry."""
    async with page_client(app) as client:
        await _auditor(client, app)
        await client.get(
            "/logbog", params={"modtager": PLANTED["CPR"], "aftale": PLANTED["E-mail"]}
        )
    with session_scope(app.state.session_factory) as session:
        stored = b"".join(
            bytes(raw) for raw in session.scalars(text("SELECT entry FROM log_entries"))
        )
    _assert_absent(stored, "the log")


async def test_the_dwelling_filter_finds_its_entries_by_keyed_reference(app: FastAPI) -> None:
    """A dwelling's dw- id: the release that named it; an unknown id none."""
    with session_scope(app.state.session_factory) as session:
        ref = str(session.scalar(text("SELECT ref FROM dwellings ORDER BY ref LIMIT 1")))
    async with page_client(app) as client:
        await _auditor(client, app)
        found = await client.get("/logbog", params={"bolig": ref})
        none = await client.get("/logbog", params={"bolig": "dw-000000000000"})
    assert "<td>Udleveret på en liste</td>" in found.text
    assert "<td>Aftaleversion registreret</td>" not in found.text
    assert _seqs(none.text) == []
    assert "0 poster" in none.text


async def test_the_dwelling_filter_takes_an_address_as_typed(app: FastAPI) -> None:
    """One match filters by it; several are listed to choose; none, or a CPR number, is named."""
    with session_scope(app.state.session_factory) as session:
        row = session.execute(
            text("SELECT ref, vejnavn, husnr, etage, doer FROM dwellings ORDER BY ref LIMIT 1")
        ).one()
    typed = f"{row.vejnavn.upper()} {row.husnr} {row.etage} {row.doer}"
    async with page_client(app) as client:
        await _auditor(client, app)
        one = await client.get("/logbog", params={"bolig": typed})
        several = await client.get("/logbog", params={"bolig": row.vejnavn[:5].lower()})
        unknown = await client.get("/logbog", params={"bolig": "Ingenvej 9"})
        personal = await client.get("/logbog", params={"bolig": PLANTED["CPR"]})
    async with page_client(app) as client:
        await _auditor(client, app, org="albertslund")
        elsewhere = await client.get("/logbog", params={"bolig": typed})
    assert "<td>Udleveret på en liste</td>" in one.text
    assert "<td>Aftaleversion registreret</td>" not in one.text
    assert "Flere boliger har den adresse: vælg en nedenfor." in several.text
    assert f"bolig={row.ref}" in several.text
    assert "Vælg boligen" in several.text
    assert "Ingen bolig i din organisation har den adresse." in unknown.text
    assert "Søg kun på adressen" in personal.text
    assert PLANTED["CPR"] not in personal.text
    assert "Ingen bolig i din organisation har den adresse." in elsewhere.text
