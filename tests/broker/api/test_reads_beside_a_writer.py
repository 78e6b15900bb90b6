"""On SQLite, routes that only read answer while another transaction holds the write lock."""

from __future__ import annotations

import time

import pytest

from broker.access import Role
from broker.db import make_session_factory
from broker.renovation import Department
from tests.broker.api.conftest import TODAY, World

READS = [
    ("/readyz", None),
    ("/v1/releases", Role.VISITATOR),
    ("/v1/log/checkpoint", Role.VISITATOR),
    ("/v1/departments", Role.HOUSING),
    ("/v1/departments/blokland/dwellings", Role.HOUSING),
    ("/v1/contact-checks", Role.COORDINATOR),
]


@pytest.mark.anyio
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_reads_do_not_wait_for_a_long_release(world: World) -> None:
    """A writer (a release of a whole country, say) holds the lock; reads answer at once."""
    writer = make_session_factory(world.app.state.engine)()
    try:
        writer.begin()
        writer.add(Department(org="bo-vest", code="ny", created_at=TODAY, updated_at=TODAY))
        writer.flush()  # BEGIN IMMEDIATE: SQLite's write lock is held until the rollback
        started = time.monotonic()
        async with world.client() as client:
            answers = [
                await client.get(path, headers=world.auth(role) if role else {})
                for path, role in READS
            ]
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert [a.status_code for a in answers] == [200] * len(READS)
    assert waited < 5.0  # a writing session would wait for the lock: 30 s each, then fail
