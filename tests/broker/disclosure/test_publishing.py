"""Publishing: what writers sequenced is put under one signed checkpoint, apart from them.

On SQLite and PostgreSQL, with real keys: the publisher's step, its thread, a
failure it survives, and delivery waiting for it.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import dwelling_rows
from sqlalchemy import select
from structlog.testing import capture_logs

from audit import Draft, read_head, sequenced_size
from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.delivery.service import deliver_due
from broker.disclosure import record, rfc3339, verify
from broker.disclosure.publishing import Publisher, integrate_pending
from broker.keys import KeyRing, KeyStore, init_keys, load_keys
from broker.release import Release
from tests.broker.release.test_release import PHASES, RUN, run, upload, weekly

AT = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    chosen = Settings(home=tmp_path / "home", log_checkpoint_interval=0.05)
    init_keys(chosen)
    return chosen


def _sequence(database: Database, ring: KeyRing, count: int) -> None:
    """Record ``count`` entries, each in its own transaction, as writers do."""
    for n in range(count):
        fields = {"time": rfc3339(AT), "event": "release", "actor": f"writer-{n}"}
        with session_scope(make_session_factory(database.engine)) as session:
            record(session, ring, [Draft(fields)])


def _head(database: Database) -> tuple[int, int]:
    """Return the integrated size and the sequenced size."""
    with database.engine.connect() as connection:
        return read_head(connection)[0], sequenced_size(connection)


def test_a_step_signs_one_checkpoint_over_what_was_sequenced(
    database: Database, settings: Settings
) -> None:
    """Five writers' entries under one checkpoint; a step with nothing new signs nothing."""
    ring = load_keys(settings)
    _sequence(database, ring, 5)
    assert _head(database) == (0, 5)
    publisher = Publisher(settings, database.engine)
    published = publisher.step()
    again = publisher.step()
    publisher.close()
    assert published is not None
    assert (published.old_size, published.size, published.witnesses) == (0, 5, ())
    assert again is None
    assert _head(database) == (5, 5)
    with database.engine.connect() as connection:
        result, _, _ = verify(connection, ring, settings)
    assert (result.size, result.checkpoints, result.pending) == (5, 1, 0)


def test_a_backlog_is_integrated_in_batches_each_under_a_checkpoint(
    database: Database, settings: Settings
) -> None:
    """A batch limit splits a backlog into several transactions, each signed."""
    ring = load_keys(settings)
    _sequence(database, ring, 7)
    published = integrate_pending(database.engine, ring, batch=3)
    assert published is not None
    assert (published.old_size, published.size) == (0, 7)
    with database.engine.connect() as connection:
        result, _, _ = verify(connection, ring, settings)
    assert result.checkpoints == 3  # 3, 6, 7


def test_the_thread_publishes_within_its_interval_and_once_more_when_stopped(
    database: Database, settings: Settings
) -> None:
    """Entries written while it runs are signed within the interval; none is left at the stop."""
    ring = load_keys(settings)
    halt = Publisher(settings, database.engine).start()
    try:
        _sequence(database, ring, 2)
        for _ in range(100):
            if _head(database)[0] == 2:
                break
            time.sleep(0.05)
        assert _head(database) == (2, 2)
        _sequence(database, ring, 1)
    finally:
        halt()
    assert _head(database) == (3, 3)  # the final step at the stop


def test_a_publisher_without_its_keys_logs_it_and_signs_nothing(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    """Keys gone: the step logs ``log.keys_unavailable`` and the entries keep waiting."""
    ring = load_keys(settings)
    _sequence(database, ring, 2)
    keyless = Settings(home=tmp_path / "elsewhere")
    publisher = Publisher(keyless, database.engine, KeyStore(keyless))
    with capture_logs() as events:
        assert publisher.step() is None
    publisher.close()
    assert [e["event"] for e in events if e["log_level"] == "error"] == ["log.keys_unavailable"]
    assert _head(database) == (0, 2)


def test_a_release_is_delivered_only_once_a_checkpoint_covers_it(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    """Before publication the release waits (pending, nothing written); after, it goes out."""
    ring = load_keys(settings)
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    made = run(database, ring, weekly())
    assert made is not None
    drop = tmp_path / "drop"
    recipient = RecipientSettings(id=made.recipient, directory=drop)  # type: ignore[arg-type]
    chosen = settings.model_copy(update={"recipients": (recipient,), "delivery_attempts": 1})
    factory = make_session_factory(database.engine)
    with httpx.Client() as client:
        before = deliver_due(factory, chosen, ring, client, lambda: RUN)
        waiting = list(drop.glob("*")) if drop.exists() else []
        integrate_pending(database.engine, ring)
        after = deliver_due(factory, chosen, ring, client, lambda: RUN)
    assert before == []
    assert waiting == []
    assert [(a.release_id, a.delivered) for a in after] == [(made.id, True)]
    with database.engine.connect() as connection:
        status = connection.scalar(select(Release.status).where(Release.id == made.id))
    assert status == "delivered"
