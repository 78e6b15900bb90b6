"""Operational endpoints: /healthz and /readyz."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from databases import Database

from broker.api import create_app
from broker.config import Settings
from broker.db import alembic_config, make_engine
from broker.keys import init_keys
from broker.logging import configure_logging

POLICIES = Path(__file__).resolve().parents[3] / "policies"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.anyio
async def test_not_ready_without_valid_policies(database: Database, tmp_path: Path) -> None:
    """Without a valid policy the broker is not ready: it could release nothing."""
    (tmp_path / "bad.yaml").write_text("id: x\n", encoding="utf-8")
    async with _client(Settings(home=tmp_path, policies_dir=tmp_path), database) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "database": "ok",
        "policies": 0,
        "policy_reload": "rejected",
        "keys": "missing",
    }


def _client(settings: Settings, database: Database | None = None) -> httpx.AsyncClient:
    app = create_app(settings, engine=database.engine if database else None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://broker")


@pytest.mark.anyio
async def test_not_ready_without_keys(database: Database, tmp_path: Path) -> None:
    """Without its log keys the broker is not ready: it could record nothing."""
    async with _client(Settings(home=tmp_path, policies_dir=POLICIES), database) as client:
        missing = await client.get("/readyz")
        init_keys(Settings(home=tmp_path))
        loaded = await client.get("/readyz")
    assert (missing.status_code, missing.json()["keys"]) == (503, "missing")
    assert (loaded.status_code, loaded.json()["keys"]) == (200, "loaded")


@pytest.mark.anyio
async def test_ready_on_a_migrated_database(database: Database, tmp_path: Path) -> None:
    """/healthz answers and /readyz reports the database and its schema revision."""
    settings = Settings(home=tmp_path, policies_dir=POLICIES)
    init_keys(settings)
    async with _client(settings, database) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "database": "ok",
        "schema": HEAD,
        "policies": 3,
        "policy_reload": "ok",
        "keys": "loaded",
    }
    assert ready.headers["x-request-id"]


def test_the_quick_start_quotes_the_schema_head() -> None:
    """The README's quick start shows the /readyz answer of a database at the newest migration."""
    readme = (POLICIES.parent / "README.md").read_text(encoding="utf-8")
    quoted = re.findall(r'"schema":"(\d{4})"', readme)
    assert quoted == [HEAD] == ["0023"]


@pytest.mark.anyio
async def test_not_ready_without_schema(tmp_path: Path) -> None:
    """An unmigrated database answers 503 on /readyz while /healthz stays up."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    settings = Settings(home=tmp_path, policies_dir=POLICIES)
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker") as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
    engine.dispose()
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable"}


@pytest.mark.anyio
async def test_request_id_never_carries_client_text(database: Database, tmp_path: Path) -> None:
    """A client's request id is used only if it is a plain token; anything else is replaced."""
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    planted = "bodil@example.org 010190-1234"
    async with _client(Settings(home=tmp_path, policies_dir=tmp_path), database) as client:
        refused = await client.get("/readyz", headers={"x-request-id": planted})
        kept = await client.get("/healthz", headers={"x-request-id": "abc-12345678"})
    assert kept.headers["x-request-id"] == "abc-12345678"
    assert refused.headers["x-request-id"] != planted
    assert len(refused.headers["x-request-id"]) == 16
    for part in planted.split():
        assert part not in stream.getvalue()
        assert part not in str(refused.headers)
