"""Visitator routes: a municipality sees its own releases, newest first, and their exact bodies."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from publishing import deliver_published
from sqlalchemy import select

from audit import canonical_json, verify_receipt
from broker.access import Role
from broker.api._problems import PROBLEM
from broker.config import RecipientSettings
from broker.db import make_session_factory, session_scope
from broker.disclosure.publishing import integrate_pending
from broker.keys import load_keys
from broker.release import Release, release
from tests.broker.api.conftest import ALBERTSLUND, HVIDOVRE, OUT, TODAY, World, policy

V = Role.VISITATOR


def _on_record_order(world: World, ids: list[str]) -> list[str]:
    with world.app.state.engine.connect() as connection:
        rows = connection.execute(
            select(Release.id).where(Release.id.in_(ids)).order_by(Release.log_seq.desc())
        )
        return [str(r) for r in rows.scalars()]


@pytest.mark.anyio
async def test_visitator_sees_only_its_municipality(world: World) -> None:
    """Albertslund lists its visitation and contact-check releases; Hvidovre only its own."""
    async with world.client() as client:
        albertslund = await client.get("/v1/releases", headers=world.auth(V))
        hvidovre = await client.get("/v1/releases", headers=world.auth(V, OUT))
    ours = [*world.releases[ALBERTSLUND], *world.releases["albertslund/bostoette"]]
    listed = albertslund.json()["releases"]
    assert [r["id"] for r in listed] == _on_record_order(world, ours)
    assert [r["id"] for r in hvidovre.json()["releases"]] == world.releases[HVIDOVRE]
    assert {r["mode"] for r in listed} == {"snapshot", "contact-check"}
    assert set(listed[0]) == {
        "id",
        "policy_id",
        "mode",
        "created_at",
        "status",
        "dwellings",
        "withdrawn",
    }
    assert (listed[-1]["status"], listed[-1]["dwellings"], listed[-1]["withdrawn"]) == (
        "pending",
        6,
        0,
    )


@pytest.mark.anyio
async def test_a_pending_release_is_served_as_it_would_be_delivered_now(world: World) -> None:
    """Not delivered yet: the stored content and salt, and a receipt cut now (no witness)."""
    release_id = world.releases[ALBERTSLUND][0]
    async with world.client() as client:
        response = await client.get(f"/v1/releases/{release_id}", headers=world.auth(V))
    with world.app.state.engine.connect() as connection:
        row = connection.execute(select(Release).where(Release.id == release_id)).one()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = json.loads(response.content)
    assert set(document) == {"release", "salt", "receipt", "receipt_uncosigned"}
    assert canonical_json(document["release"]) == row.content  # the bytes on record
    assert bytes.fromhex(document["salt"]) == row.salt
    assert document["receipt_uncosigned"] == "no witness is configured"
    ring = load_keys(world.settings)
    proven = verify_receipt(document["receipt"], ring.origin, ring.verifiers())
    assert json.loads(proven.entry)["release_id"] == release_id


@pytest.mark.anyio
async def test_a_delivered_release_is_served_byte_for_byte_as_delivered(
    world: World, tmp_path: Path
) -> None:
    """Delivered: the very bytes the recipient got, though the log has grown since."""
    release_id = world.releases[ALBERTSLUND][0]
    drop = tmp_path / "drop"
    recipient = RecipientSettings(id=ALBERTSLUND, directory=drop)  # type: ignore[arg-type]
    settings = world.settings.model_copy(update={"recipients": (recipient,)})
    factory = make_session_factory(world.app.state.engine)
    with httpx.Client() as client:
        attempts = deliver_published(
            factory, settings, load_keys(settings), client, lambda: dt.datetime.now(dt.UTC)
        )
    assert [(a.release_id, a.delivered) for a in attempts] == [
        (delivered, True) for delivered in world.releases[ALBERTSLUND]
    ]
    async with world.client() as client:
        response = await client.get(f"/v1/releases/{release_id}", headers=world.auth(V))
    assert response.status_code == 200
    assert response.content == (drop / f"{release_id}.json").read_bytes()


@pytest.mark.anyio
async def test_another_municipalitys_release_is_not_found(world: World) -> None:
    """Another municipality's release answers exactly like one that does not exist."""
    theirs = world.releases[HVIDOVRE][0]
    async with world.client() as client:
        hidden = await client.get(f"/v1/releases/{theirs}", headers=world.auth(V))
        missing = await client.get("/v1/releases/rel-000000000000", headers=world.auth(V))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == PROBLEM
    assert hidden.json() == missing.json()
    assert theirs not in hidden.text


@pytest.mark.anyio
async def test_pages_follow_the_cursor_newest_first(world: World) -> None:
    """Pages of one walk every release once, newest first; a cursor from elsewhere is refused."""
    seen: list[str] = []
    async with world.client() as client:
        cursor: str | None = None
        while True:
            params = {"limit": "1"} | ({"after": cursor} if cursor else {})
            page = (await client.get("/v1/releases", params=params, headers=world.auth(V))).json()
            seen += [r["id"] for r in page["releases"]]
            cursor = page["next_after"]
            if cursor is None:
                break
        foreign = await client.get(
            "/v1/releases", params={"after": world.releases[HVIDOVRE][0]}, headers=world.auth(V)
        )
    ours = [*world.releases[ALBERTSLUND], *world.releases["albertslund/bostoette"]]
    assert seen == _on_record_order(world, ours)
    assert foreign.status_code == 422
    assert foreign.headers["content-type"] == PROBLEM
    assert foreign.json()["errors"] == [
        {"field": "after", "rule": "must be the id of a release in this list"}
    ]


@pytest.mark.anyio
async def test_a_release_not_yet_published_is_answered_503_with_retry_after(world: World) -> None:
    """Sequenced, no checkpoint over it yet: 503 and Retry-After, then the body once published."""
    ring = load_keys(world.settings)
    factory = make_session_factory(world.app.state.engine)
    with session_scope(factory) as session:
        weekly = policy("albertslund-visitation-weekly")
        made = release(session, ring, weekly, run_at=TODAY, now=TODAY).release
        assert made is not None
    async with world.client() as client:
        waiting = await client.get(f"/v1/releases/{made.id}", headers=world.auth(V))
        integrate_pending(world.app.state.engine, ring)  # the server's publisher's step
        served = await client.get(f"/v1/releases/{made.id}", headers=world.auth(V))
    assert waiting.status_code == 503
    assert waiting.headers["retry-after"] == "1"
    assert waiting.headers["content-type"] == PROBLEM
    assert waiting.json()["title"] == "not yet published"
    assert served.status_code == 200
    proven = verify_receipt(served.json()["receipt"], ring.origin, ring.verifiers())
    assert json.loads(proven.entry)["release_id"] == made.id
