"""Hooks after a delivery: run once it is committed, never undo it, never stop the round."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import dwelling_rows
from publishing import deliver_published
from structlog.testing import capture_logs

from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.delivery.service import Arrival, DeliveryHooks
from broker.keys import KeyRing, init_keys, load_keys
from broker.policy import Mode
from broker.release import Release
from tests.broker.release.test_release import PHASES, RUN, run, upload, weekly

RECIPIENT = "albertslund/visitation"


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    settings = Settings(home=tmp_path / "home")
    init_keys(settings)
    return load_keys(settings)


def _deliver(
    database: Database, tmp_path: Path, ring: KeyRing, directory: Path, hooks: DeliveryHooks
) -> list[bool]:
    recipient = RecipientSettings(id=RECIPIENT, directory=directory)  # type: ignore[arg-type]
    settings = Settings(home=tmp_path / "home", recipients=(recipient,), delivery_attempts=1)
    with httpx.Client() as client:
        attempts = deliver_published(
            make_session_factory(database.engine), settings, ring, client, lambda: RUN, hooks=hooks
        )
    return [attempt.delivered for attempt in attempts]


def _two_releases(database: Database, tmp_path: Path, ring: KeyRing) -> list[str]:
    made = []
    for count in (6, 7):
        upload(database, tmp_path, dwelling_rows(count, phases=PHASES))
        found = run(database, ring, weekly(Mode.CHANGES))
        assert found is not None
        made.append(found.id)
    return made


def test_an_arrived_hook_sees_the_delivery_committed(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Each arrived hook runs after the commit: a new session already reads ``delivered``."""
    made = _two_releases(database, tmp_path, ring)
    factory = make_session_factory(database.engine)
    seen: list[tuple[str, str, str]] = []

    def hook(arrival: Arrival) -> None:
        with session_scope(factory) as session:
            stored = session.get(Release, arrival.release_id)
            assert stored is not None
            assert arrival.mode == stored.mode
            assert arrival.policy_id == stored.policy_id
            seen.append((arrival.release_id, arrival.recipient, stored.status))
        assert arrival.delivered_at == RUN

    hooks = DeliveryHooks()
    hooks.on_arrived(hook)
    assert _deliver(database, tmp_path, ring, tmp_path / "drop", hooks) == [True, True]
    assert seen == [(release_id, RECIPIENT, "delivered") for release_id in made]


def test_a_hook_that_raises_is_logged_and_the_round_goes_on(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A raising arrived hook leaves its delivery recorded and the next release delivered."""
    made = _two_releases(database, tmp_path, ring)
    calls: list[str] = []

    def broken(arrival: Arrival) -> None:
        calls.append(arrival.release_id)
        raise RuntimeError("the hook broke")

    hooks = DeliveryHooks()
    hooks.on_arrived(broken)
    with capture_logs() as logs:
        assert _deliver(database, tmp_path, ring, tmp_path / "drop", hooks) == [True, True]
    assert calls == made
    failed = [entry for entry in logs if entry["event"] == "delivery.hook_failed"]
    assert [entry["release_id"] for entry in failed] == made
    with session_scope(make_session_factory(database.engine)) as session:
        assert {session.get(Release, rid).status for rid in made} == {"delivered"}  # type: ignore[union-attr]
    # Nothing is due again: the hook's failure retries nothing.
    assert _deliver(database, tmp_path, ring, tmp_path / "drop", hooks) == []
    assert calls == made


def test_no_arrived_hook_for_a_release_that_did_not_arrive(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A failed delivery calls no arrived hook."""
    _two_releases(database, tmp_path, ring)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the drop directory should be")
    calls: list[Arrival] = []
    hooks = DeliveryHooks()
    hooks.on_arrived(calls.append)
    assert _deliver(database, tmp_path, ring, blocker / "drop", hooks) == [False]
    assert calls == []


def test_a_release_to_a_recipient_not_configured_is_logged_once(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Round after round it waits; the error is said once, not every few seconds."""
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    made = run(database, ring, weekly())
    assert made is not None
    settings = Settings(home=tmp_path / "home", recipients=())
    factory = make_session_factory(database.engine)
    with capture_logs() as events, httpx.Client() as client:
        for _ in range(3):
            assert deliver_published(factory, settings, ring, client, lambda: RUN) == []
    said = [e for e in events if e["event"] == "delivery.no_recipient"]
    assert [(e["release_id"], e["recipient"]) for e in said] == [(made.id, RECIPIENT)]
