"""The agreements' exact texts for the DPO: every version, its terms, and what changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from databases import Database
from fastapi import FastAPI
from webclient import POLICIES, page_client, sign_in, web_app

from broker.access import Role
from broker.config import Settings
from broker.db import session_scope
from broker.keys import init_keys
from broker.policy import load_policy_file
from broker.policy.service import record_versions

pytestmark = pytest.mark.anyio

WEEKLY = "albertslund-visitation-weekly"


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    """The broker (its three agreements on record at start) and a later weekly version."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    made = web_app(database, home)
    source = POLICIES / f"{WEEKLY}.yaml"
    changed = tmp_path / source.name
    text = source.read_text(encoding="utf-8").replace("retention: P6M", "retention: P3M")
    changed.write_text(text.replace("version: 1", "version: 2"), encoding="utf-8")
    loaded, problems = load_policy_file(changed)
    assert loaded is not None, problems
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with session_scope(made.state.session_factory) as session:
        assert record_versions(session, (loaded,), now=later) == [loaded.policy.content_hash]
    made.state.later_hash = loaded.policy.content_hash
    return made


def _hash(app: FastAPI) -> str:
    found: str = app.state.later_hash
    return found


async def test_every_version_is_listed_with_its_state(app: FastAPI) -> None:
    """Both weekly versions, the one in force marked; the contact-check agreements too."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        assert 'href="/aftaler"' in (await client.get("/")).text
        page = await client.get("/aftaler")
    assert page.status_code == 200
    assert page.text.count(f">{WEEKLY}</a>") == 2
    assert "albertslund-contact-check</a>" in page.text
    assert page.text.count("<td>i kraft</td>") == 3
    assert page.text.count("<td>ikke længere i kraft</td>") == 1
    assert f'href="/aftaler/{_hash(app)}"' in page.text


async def test_a_version_shows_its_terms_and_the_change_from_the_one_before(
    app: FastAPI,
) -> None:
    """The terms in Danish, the exact text, and the retention line removed and added."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        page = await client.get(f"/aftaler/{_hash(app)}")
    assert page.status_code == 200
    assert f"{WEEKLY}, version 2" in page.text
    assert "Modtageren opbevarer dem i" in page.text
    assert "<code>gdpr</code>: GDPR Art. 6(1)(f)" in page.text
    assert "Serviceloven §§ 83 og 85" in page.text
    assert "<td>fjernet</td>" in page.text
    assert "<del><code>retention: P6M</code></del>" in page.text
    assert "<ins><code>retention: P3M</code></ins>" in page.text
    assert "<ins><code>version: 2</code></ins>" in page.text
    assert "Ikke længere i kraft." in page.text


async def test_the_first_version_has_no_change_and_others_see_nothing(app: FastAPI) -> None:
    """Version 1 says it is the first; a non-party's auditor gets 404 and an empty list."""
    async with page_client(app) as client, page_client(app) as other:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        listed = (await client.get("/aftaler")).text
        first = listed.split('href="/aftaler/')[1].split('"')[0]
        page = await client.get(f"/aftaler/{first}")
        assert "Dette er aftalens første version." in page.text
        await sign_in(other, app.state.session_factory, role=Role.AUDITOR, org="glostrup")
        assert (await other.get(f"/aftaler/{_hash(app)}")).status_code == 404
        empty = await other.get("/aftaler")
    assert "Ingen aftaleversion, som din organisation er part i" in empty.text
