"""The auditor's entry list filters in the database: any filter value answers, none fails it."""

from __future__ import annotations

import pytest

from broker.access import Role
from tests.broker.api.conftest import World


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["release", "release\x00", "x" * 2000, "æøå"])
async def test_a_filter_value_the_log_cannot_hold_matches_nothing(world: World, value: str) -> None:
    """A NUL (PostgreSQL's text holds none), a long or a non-ASCII value: 200, never a 500."""
    async with world.client() as client:
        for name in ("event", "recipient", "policy"):
            answer = await client.get(
                "/v1/log/entries", params={name: value}, headers=world.auth(Role.AUDITOR)
            )
            assert answer.status_code == 200, (name, answer.text)
            found = answer.json()["entries"]
            assert all(
                entry.get(name if name != "policy" else "policy_id") == value for entry in found
            )
            if "\x00" in value or len(value) > 100:
                assert found == []
