"""The DPO answers an access request (GDPR Art. 15): the page, the letter, its receipts verified.

A site whose weekly list went out twice by the real release path (the second after a
re-upload that withdrew one dwelling), every export row holding the planted personal
values. The letter's attached receipts are checked with the offline verifier.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from databases import Database
from listings import LATER, MUNICIPALITY, NOTICE, POLICIES, ListWorld, rows
from pypdf import PdfReader
from sqlalchemy import select, text
from webclient import page_client, sign_in, web_app

from broker.access import Role
from broker.config import ControllerSettings
from broker.db import session_scope
from broker.disclosure import purge
from broker.policy import load_policy_file
from broker.policy.service import record_versions
from broker.renovation import Dwelling
from tests.broker.test_privacy import PLANTED, _assert_absent

pytestmark = pytest.mark.anyio

CONTROLLER = ControllerSettings(
    org="bo-vest", name="Boligselskabet Vest (demo)", contact="Demovej 1", dpo="dpo@bo-vest.example"
)
GDPR = "GDPR Art. 6(1)(f) (housing company); Art. 6(1)(e) (municipality)"
NATIONAL = "Serviceloven §§ 83 og 85"


class Site:
    """Two weekly lists (changes mode): dwelling 1 on both (moved), 6 withdrawn by the second."""

    def __init__(self, database: Database, home: Path) -> None:
        """Upload, release; re-upload moving dwelling 1's rehousing, without dwelling 6; release."""
        # The weekly agreement in changes mode, from a file: its text stored as the server does.
        source = POLICIES / "albertslund-visitation-weekly.yaml"
        changed = home.parent / source.name
        changed.write_text(source.read_text().replace("mode: snapshot", "mode: changes"))
        loaded, problems = load_policy_file(changed)
        assert loaded is not None, problems
        self.world = ListWorld(database, home, loaded.policy)
        with session_scope(self.world.factory) as session:
            record_versions(session, (loaded,), now=self.world.now)
        self.world.upload(rows(6))
        self.first = self.world.release()
        self.world.upload(rows(1, phases=(NOTICE, LATER)) + rows(4, first=2))
        self.second = self.world.release()
        self.app = web_app(database, home, controllers=(CONTROLLER,))
        with session_scope(self.app.state.session_factory) as session:
            by_number = dict(session.execute(select(Dwelling.lejemaalsnr, Dwelling.ref)).all())
        self.kept, self.withdrawn = by_number["0412-0000-001"], by_number["0412-0000-006"]

    def reads(self) -> int:
        """How many audit-read entries the log holds."""
        with session_scope(self.app.state.session_factory) as session:
            query = text("SELECT count(*) FROM log_entry_facts WHERE event = 'audit-read'")
            return int(session.scalar(query) or 0)


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Site:
    return Site(database, tmp_path / "home")


async def test_the_dpo_finds_the_dwelling_by_a_partial_address(site: Site) -> None:
    """Partial, any case; an id goes straight to the dwelling; personal input is refused."""
    async with page_client(site.app) as client:
        await sign_in(client, site.app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        assert 'href="/indsigt"' in (await client.get("/")).text
        found = await client.get("/indsigt", params={"q": "prøvevej 1 st t"})
        assert found.status_code == 200
        assert f'href="/indsigt/{site.kept}"' in found.text
        by_id = await client.get("/indsigt", params={"q": site.kept})
        assert (by_id.status_code, by_id.headers["location"]) == (303, f"/indsigt/{site.kept}")
        personal = await client.get("/indsigt", params={"q": PLANTED["CPR"]})
        assert personal.status_code == 422
        assert PLANTED["CPR"] not in personal.text


async def test_the_answer_names_each_disclosure_its_agreement_values_and_delivery(
    site: Site,
) -> None:
    """Both lists, both legal bases, the values as released, delivered; the read is on record."""
    async with page_client(site.app) as client:
        await sign_in(client, site.app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        before = site.reads()
        page = await client.get(f"/indsigt/{site.kept}")
    assert page.status_code == 200
    assert site.reads() == before + 1
    assert "Prøvevej 1, st. tv, 2620 Albertslund" in page.text
    assert page.text.count("Udleveret på en liste") == 2
    assert page.text.count(GDPR) == 2
    assert page.text.count(NATIONAL) == 2
    assert "albertslund-visitation-weekly, version 1" in page.text
    assert "6 måneder" in page.text
    assert page.text.count("leveret ") >= 2
    assert "<td>Prøvevej</td>" in page.text
    assert "uge 9-26 2027" in page.text
    assert "uge 11-26 2027" in page.text
    assert "c2sp.org/tlog-proof@v1" in page.text
    _assert_absent(page.content, "the access request page")


async def test_a_withdrawal_and_a_purge_are_said_plainly(site: Site) -> None:
    """The dwelling taken off the list says so; purged values say when they went."""
    with session_scope(site.app.state.session_factory) as session:
        at = site.world.now + dt.timedelta(days=1)
        purge(session, site.world.ring, at=at, before=site.world.now.date())
    async with page_client(site.app) as client:
        await sign_in(client, site.app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        page = await client.get(f"/indsigt/{site.withdrawn}")
    assert "ikke længere var berørt" in page.text
    assert "Værdierne blev slettet" in page.text


async def test_the_letter_holds_everything_and_its_receipts_verify(
    site: Site, tmp_path: Path
) -> None:
    """The PDF names the legal bases, values and delivery; its attachments verify offline."""
    async with page_client(site.app) as client:
        await sign_in(client, site.app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        answer = await client.get(f"/indsigt/{site.kept}.pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.content))
    letter = " ".join("".join(p.extract_text() for p in reader.pages).split())
    for expected in (
        "Din anmodning om indsigt",
        "Boligselskabet Vest (demo)",
        GDPR,
        NATIONAL,
        "Prøvevej",
        "leveret",
        "Bilag: sådan efterprøver du dette brev",
        "python -m audit.verify --receipt",
        "dpo@bo-vest.example",
    ):
        assert expected in letter, expected
    _assert_absent(letter.encode(), "the access letter")
    files = {name: contents[0] for name, contents in reader.attachments.items()}
    receipts = sorted(name for name in files if name.endswith(".tlog-proof"))
    assert len(receipts) >= 2
    key = tmp_path / "log-public.pem"
    key.write_bytes(files["log-public.pem"])
    for name in receipts:
        path = tmp_path / name
        path.write_bytes(files[name])
        _assert_absent(files[name], name)
        checked = subprocess.run(  # noqa: ASYNC221 - the verifier is a separate program
            [
                sys.executable,
                "-m",
                "audit.verify",
                "--receipt",
                str(path),
                "--public-key",
                str(key),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_only_a_party_sees_the_dwelling(site: Site) -> None:
    """Another organisation's auditor gets 404; the municipality's sees what it received."""
    async with page_client(site.app) as other, page_client(site.app) as municipality:
        await sign_in(other, site.app.state.session_factory, role=Role.AUDITOR, org="glostrup")
        assert (await other.get(f"/indsigt/{site.kept}")).status_code == 404
        assert (await other.get(f"/indsigt/{site.kept}.pdf")).status_code == 404
        await sign_in(
            municipality, site.app.state.session_factory, role=Role.AUDITOR, org=MUNICIPALITY
        )
        seen = await municipality.get(f"/indsigt/{site.kept}")
    assert seen.status_code == 200
    assert seen.text.count("Udleveret på en liste") == 2
    _assert_absent(seen.content, "the municipality's access page")
