"""Releases go out in log order; a release failed for good is retried only if still in order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import dwelling_rows
from publishing import deliver_published
from sqlalchemy import select

from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.delivery.service import retry_failed
from broker.errors import InputError
from broker.keys import KeyRing, init_keys, load_keys
from broker.policy import Mode, Policy
from broker.release import Release
from tests.broker.release.test_release import PHASES, RUN, run, upload, weekly

RECIPIENT = "albertslund/visitation"


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    settings = Settings(home=tmp_path / "home")
    init_keys(settings)
    return load_keys(settings)


def _deliver(database: Database, tmp_path: Path, ring: KeyRing, directory: Path) -> list[str]:
    recipient = RecipientSettings(id=RECIPIENT, directory=directory)  # type: ignore[arg-type]
    settings = Settings(home=tmp_path / "home", recipients=(recipient,), delivery_attempts=1)
    with httpx.Client() as client:
        attempts = deliver_published(
            make_session_factory(database.engine), settings, ring, client, lambda: RUN
        )
    return [f"{a.release_id}:{'delivered' if a.delivered else 'failed'}" for a in attempts]


def _statuses(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        rows = connection.execute(select(Release.status).order_by(Release.log_seq))
        return [status for (status,) in rows]


def _two_releases(database: Database, tmp_path: Path, ring: KeyRing, policy: Policy) -> list[str]:
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    first = run(database, ring, policy)
    upload(database, tmp_path, dwelling_rows(7, phases=PHASES))
    second = run(database, ring, policy)
    assert first is not None
    assert second is not None
    return [first.id, second.id]


def test_releases_go_out_in_log_order_and_a_retried_one_arrives(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Two releases made in the same instant go out in log order; a retried failure arrives."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the drop directory should be")
    drop = tmp_path / "drop"
    first, second = _two_releases(database, tmp_path, ring, weekly(Mode.CHANGES))
    assert _deliver(database, tmp_path, ring, blocker / "drop") == [f"{first}:failed"]
    assert _statuses(database) == ["failed", "pending"]

    with session_scope(make_session_factory(database.engine)) as session:
        retry_failed(session, first, now=RUN)
    assert _deliver(database, tmp_path, ring, drop) == [f"{first}:delivered", f"{second}:delivered"]
    assert sorted(path.name for path in drop.glob("*.json")) == sorted(
        f"{release_id}.json" for release_id in (first, second)
    )


def test_a_failed_release_is_not_retried_after_a_later_one_was_delivered(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A newer release goes out past a failed one; the failed one then may not go after it."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the drop directory should be")
    first, second = _two_releases(database, tmp_path, ring, weekly(Mode.SNAPSHOT))
    with session_scope(make_session_factory(database.engine)) as session:
        session.get(Release, second).next_attempt_at = RUN + dt.timedelta(days=1)  # type: ignore[union-attr]
    assert _deliver(database, tmp_path, ring, blocker / "drop") == [f"{first}:failed"]
    with session_scope(make_session_factory(database.engine)) as session:
        session.get(Release, second).next_attempt_at = RUN  # type: ignore[union-attr]
    assert _deliver(database, tmp_path, ring, tmp_path / "drop") == [f"{second}:delivered"]

    with (
        session_scope(make_session_factory(database.engine)) as session,
        pytest.raises(InputError) as refused,
    ):
        retry_failed(session, first, now=RUN)
    assert f"a later release, {second}, was delivered" in str(refused.value.problems[0])
    assert _statuses(database) == ["failed", "delivered"]


def test_a_release_waiting_out_its_backoff_holds_back_later_ones(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A later release that is due waits while an earlier one to its recipient is not yet due."""
    first, second = _two_releases(database, tmp_path, ring, weekly(Mode.CHANGES))
    with session_scope(make_session_factory(database.engine)) as session:
        session.get(Release, first).next_attempt_at = RUN + dt.timedelta(minutes=5)  # type: ignore[union-attr]
    drop = tmp_path / "drop"
    assert _deliver(database, tmp_path, ring, drop) == []
    assert _statuses(database) == ["pending", "pending"]

    with session_scope(make_session_factory(database.engine)) as session:
        session.get(Release, first).next_attempt_at = RUN  # type: ignore[union-attr]
    assert _deliver(database, tmp_path, ring, drop) == [f"{first}:delivered", f"{second}:delivered"]
