"""Operational endpoints: /healthz and /readyz."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from databases import Database

from broker.api import create_app
from broker.config import Settings
from broker.db import make_engine


def _client(settings: Settings, database: Database | None = None) -> httpx.AsyncClient:
    app = create_app(settings, engine=database.engine if database else None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://broker")


@pytest.mark.anyio
async def test_ready_on_a_migrated_database(database: Database, tmp_path: Path) -> None:
    """/healthz answers and /readyz reports the database and its schema revision."""
    async with _client(Settings(home=tmp_path), database) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "schema": "0002"}
    assert ready.headers["x-request-id"]


@pytest.mark.anyio
async def test_not_ready_without_schema(tmp_path: Path) -> None:
    """An unmigrated database answers 503 on /readyz while /healthz stays up."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    settings = Settings(home=tmp_path)
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker") as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
    engine.dispose()
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable"}
