"""Admin routes over HTTP: a reload puts each new policy version on record."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from broker.access import Role
from broker.policy.models import PolicyVersion
from tests.broker.api.conftest import POLICIES, World


@pytest.mark.anyio
async def test_reload_records_a_changed_policy(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    """A policy file changed and reloaded over the API is stored by its new content hash."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    world = make_world(policies_dir=policies)
    weekly = policies / "albertslund-visitation-weekly.yaml"
    weekly.write_text(
        weekly.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8"
    )
    async with world.client() as client:
        reloaded = await client.post("/v1/policies/reload", headers=world.auth(Role.ADMIN))
        listed = await client.get("/v1/policies", headers=world.auth(Role.ADMIN))
    assert reloaded.json() == {"accepted": True, "policies": 3}
    (changed,) = [p["hash"] for p in listed.json() if p["version"] == 2]
    engine = world.app.state.engine
    with engine.connect() as connection:
        stored = connection.scalar(
            select(PolicyVersion.version).where(PolicyVersion.content_hash == changed)
        )
    assert stored == 2
