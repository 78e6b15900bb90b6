"""Entries that commit to their dwellings through a root: record() checks what it indexes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from databases import Database
from sqlalchemy import select

from audit import Draft, references_root
from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.disclosure import record, rfc3339
from broker.disclosure.models import EntryDwelling
from broker.keys import init_keys, load_keys

AT = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)


def test_a_root_without_the_references_it_commits_to_is_refused(
    database: Database, tmp_path: Path
) -> None:
    """record() checks each draft's dwellings_root against the references given with it."""
    settings = Settings(home=tmp_path)
    init_keys(settings)
    ring = load_keys(settings)
    refs = sorted(ring.reference(f"dw-{n}") for n in range(3))
    fields = {
        "time": rfc3339(AT),
        "event": "release",
        "dwellings_root": references_root(refs),
        "dwellings_count": 3,
    }
    with session_scope(make_session_factory(database.engine)) as session:
        with pytest.raises(ValueError, match="does not commit to these references"):
            record(session, ring, [Draft(fields)])
        with pytest.raises(ValueError, match="does not commit to these references"):
            record(session, ring, [Draft(fields)], named=[refs[:2]])
        record(session, ring, [Draft(fields)], named=[refs])
    with database.engine.connect() as connection:
        indexed = sorted(connection.scalars(select(EntryDwelling.reference)))
    assert indexed == refs  # the one recorded, with its references
