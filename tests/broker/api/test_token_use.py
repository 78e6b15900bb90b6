"""A token's last use is written as the API admits it, once a minute, never holding up a read."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import pytest
from databases import Database
from fastapi import FastAPI
from structlog.testing import capture_logs
from webclient import web_app

from broker.access import Token, create_token
from broker.db import make_session_factory, session_scope
from broker.renovation import Department

pytestmark = pytest.mark.anyio


def _token(app: FastAPI) -> tuple[str, str]:
    with session_scope(app.state.session_factory) as session:
        token, secret = create_token(
            session, role="admin", org="bo-vest", now=dt.datetime.now(dt.UTC)
        )
        return token.id, secret


def _last_used(app: FastAPI, token_id: str) -> dt.datetime | None:
    with session_scope(app.state.session_factory) as session:
        found = session.get(Token, token_id)
        assert found is not None
        return found.last_used_at


async def _policies(app: FastAPI, secret: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/v1/policies", headers={"Authorization": f"Bearer {secret}"})


async def test_the_api_writes_when_a_token_was_last_used(
    database: Database, tmp_path: Path
) -> None:
    """Never used, then the time of the first request; a second within the minute writes nothing."""
    app = web_app(database, tmp_path)
    token_id, secret = _token(app)
    assert _last_used(app, token_id) is None
    before = dt.datetime.now(dt.UTC)
    assert (await _policies(app, secret)).status_code == 200
    first = _last_used(app, token_id)
    assert first is not None
    assert before <= first <= dt.datetime.now(dt.UTC)
    assert (await _policies(app, secret)).status_code == 200
    assert _last_used(app, token_id) == first


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_token_is_admitted_at_once_while_another_writer_holds_the_lock(
    database: Database, tmp_path: Path
) -> None:
    """SQLite's write lock is held: the request is answered at once; its use is written later."""
    app = web_app(database, tmp_path)
    token_id, secret = _token(app)
    writer = make_session_factory(database.engine)()
    try:
        writer.begin()
        now = dt.datetime.now(dt.UTC)
        writer.add(Department(org="bo-vest", code="ny", created_at=now, updated_at=now))
        writer.flush()  # BEGIN IMMEDIATE: the write lock is held until the rollback
        started = time.monotonic()
        with capture_logs() as logs:
            answer = await _policies(app, secret)
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert answer.status_code == 200
    assert waited < 2.0  # a patient write would wait busy_timeout (30 s) for the lock
    assert [(e["event"], e["token"]) for e in logs if e["event"].startswith("token.")] == [
        ("token.use_not_recorded", token_id)
    ]
    assert _last_used(app, token_id) is None
    # The lock is free: the next request writes it.
    assert (await _policies(app, secret)).status_code == 200
    assert _last_used(app, token_id) is not None
