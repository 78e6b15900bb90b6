"""After a release's retention its content is gone from the whole database, not only the log.

The log's purge deletes the content behind the entry's commitment; the outbox's copy
(and a release in parts, its parts) goes in the same transaction. The released keys
(the recipient's opaque keys of each dwelling, found nowhere but in released content)
are then found nowhere in the database's bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import dwelling_rows
from publishing import deliver_published
from sqlalchemy import func, select

from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.delivery.service import retry_failed
from broker.disclosure import purge
from broker.errors import InputError, NotFound
from broker.keys import KeyRing
from broker.release import Release, ReleasePart, forget_purged, release, release_body
from tests.broker.release.test_release import PHASES, RUN, upload, weekly
from tests.broker.release.test_release import ring as ring  # noqa: PLC0414 - the fixture
from tests.broker.test_privacy import _stored_bytes

RECIPIENT = "albertslund/visitation"


def _found(key: str, stored: bytes) -> bool:
    """Whether ``key`` is in the database's bytes: as text, or hex as pg_dump writes bytea."""
    return key.encode() in stored or key.encode().hex().encode() in stored


@pytest.mark.parametrize("part_dwellings", [None, 2])
def test_a_purged_release_leaves_no_released_content_in_the_database(
    database: Database, tmp_path: Path, ring: KeyRing, part_dwellings: int | None
) -> None:
    """Whole or in three parts: past its retention, no released key is stored anywhere."""
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    factory = make_session_factory(database.engine)
    with session_scope(factory) as session:
        made = release(
            session, ring, weekly(), run_at=RUN, now=RUN, part_dwellings=part_dwellings
        ).release
        assert made is not None
        release_id = made.id
        keys = [record["key"] for record in json.loads(made.content)["dwellings"]]
    recipient = RecipientSettings(id=RECIPIENT, directory=tmp_path / "drop")  # type: ignore[arg-type]
    with httpx.Client() as client:
        (attempt,) = deliver_published(
            factory, Settings(home=tmp_path, recipients=(recipient,)), ring, client, lambda: RUN
        )
    assert attempt.delivered
    database.dispose()
    stored = _stored_bytes(database)
    assert all(_found(key, stored) for key in keys)  # the scan sees them while held

    later = RUN + dt.timedelta(days=30)
    with session_scope(factory) as session:
        assert purge(session, ring, at=later, retention_days={weekly().id: 7}) == 1
        assert forget_purged(session) == 1
    with session_scope(factory) as session:
        row = session.get(Release, release_id)
        assert row is not None
        assert (row.content, row.manifest, row.status) == (b"", None, "delivered")
        left = session.scalar(select(func.count()).select_from(ReleasePart))
        assert left == 0
        with pytest.raises(NotFound, match="deleted at the end of its retention"):
            release_body(session, Settings(home=tmp_path), row)
        assert forget_purged(session) == 0  # once
    database.dispose()
    stored = _stored_bytes(database)
    for key in keys:
        assert not _found(key, stored), f"released key {key} still in the database"


def test_a_purged_release_that_failed_cannot_be_sent_again(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Retrying a failed release whose content was purged is refused: nothing is left to send."""
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    factory = make_session_factory(database.engine)
    with session_scope(factory) as session:
        made = release(session, ring, weekly(), run_at=RUN, now=RUN).release
        assert made is not None
        release_id = made.id
    (tmp_path / "not-a-directory").write_text("a file where the drop directory should be")
    recipient = RecipientSettings(  # type: ignore[arg-type]
        id=RECIPIENT, directory=tmp_path / "not-a-directory" / "drop"
    )
    settings = Settings(home=tmp_path, recipients=(recipient,), delivery_attempts=1)
    with httpx.Client() as client:
        (attempt,) = deliver_published(factory, settings, ring, client, lambda: RUN)
    assert not attempt.delivered
    with session_scope(factory) as session:
        purge(session, ring, at=RUN + dt.timedelta(days=30), retention_days={weekly().id: 7})
        forget_purged(session)
    with session_scope(factory) as session, pytest.raises(InputError) as refused:
        retry_failed(session, release_id, now=RUN)
    assert "deleted at the end of its retention" in refused.value.problems[0].rule
