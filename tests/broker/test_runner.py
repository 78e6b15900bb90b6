"""The background runner: a scheduled run is released once and delivered to a real receiver."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import Database
from factories import dwelling_rows, write_csv
from sqlalchemy import select
from structlog.testing import capture_logs

from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.ingest.service import ingest_file
from broker.keys import init_keys, load_keys
from broker.policy import load_policies
from broker.receiver import Receiver, make_receiver_server
from broker.release import Release
from broker.runner import Runner
from broker.scheduler import SchedulerRun

POLICIES = Path(__file__).resolve().parents[2] / "policies"
MONDAY = dt.datetime(2027, 2, 22, 5, 0, 30, tzinfo=dt.UTC)  # 06:00:30 in Copenhagen
PHASES = (("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real receiver on 127.0.0.1 trusting the test's broker keys."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    ring = load_keys(Settings(home=home))
    store = tmp_path / "received"
    clock = MONDAY.timestamp
    server = make_receiver_server(Receiver(store, ring.public_keys, clock=clock), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/releases", store
    finally:
        server.shutdown()
        server.server_close()


def test_a_scheduled_run_is_released_once_and_delivered(
    database: Database, tmp_path: Path, receiver: tuple[str, Path]
) -> None:
    """Monday 06:00 local: the weekly policy fires, releases and delivers; a second step not."""
    url, store = receiver
    recipient = RecipientSettings(id="albertslund/visitation", webhook=url)  # type: ignore[arg-type]
    settings = Settings(home=tmp_path / "home", policies_dir=POLICIES, recipients=(recipient,))
    export = write_csv(tmp_path / "export.csv", dwelling_rows(6, phases=PHASES))
    with session_scope(make_session_factory(database.engine)) as session:
        ingest_file(session, export, org="bo-vest", now=MONDAY - dt.timedelta(days=1))
    loaded, problems = load_policies([POLICIES])
    assert not problems
    runner = Runner(settings, database.engine, lambda: tuple(loaded), clock=lambda: MONDAY)

    wait = runner.step()
    runner.step()

    with database.engine.connect() as connection:
        releases = list(connection.execute(select(Release.policy_id, Release.status)))
    assert releases == [("albertslund-visitation-weekly", "delivered")]
    assert len(list((store / "releases").iterdir())) == 1
    assert 0 < wait <= 5.0


def test_a_run_that_fails_for_want_of_keys_is_released_once_they_are_back(
    database: Database, tmp_path: Path, receiver: tuple[str, Path]
) -> None:
    """Keys missing at 06:00: nothing is released or claimed; a minute later, with keys, it is."""
    url, store = receiver
    recipient = RecipientSettings(id="albertslund/visitation", webhook=url)  # type: ignore[arg-type]
    home = tmp_path / "home"
    settings = Settings(home=home, policies_dir=POLICIES, recipients=(recipient,))
    export = write_csv(tmp_path / "export.csv", dwelling_rows(6, phases=PHASES))
    with session_scope(make_session_factory(database.engine)) as session:
        ingest_file(session, export, org="bo-vest", now=MONDAY - dt.timedelta(days=1))
    loaded, problems = load_policies([POLICIES])
    assert not problems
    now = [MONDAY - dt.timedelta(seconds=30)]  # 06:00:00 in Copenhagen: the run is due
    runner = Runner(settings, database.engine, lambda: tuple(loaded), clock=lambda: now[0])
    (home / "keys").rename(tmp_path / "keys-aside")

    with capture_logs() as logs:
        runner.step()
    with database.engine.connect() as connection:
        assert list(connection.execute(select(Release.id))) == []
        assert list(connection.execute(select(SchedulerRun.policy_id))) == []
    assert [e["failures"] for e in logs if e["event"] == "scheduler.run_failed"] == [1]

    (tmp_path / "keys-aside").rename(home / "keys")
    now[0] += dt.timedelta(minutes=1)
    runner.step()
    runner.step()

    with database.engine.connect() as connection:
        releases = list(connection.execute(select(Release.policy_id, Release.status)))
    assert releases == [("albertslund-visitation-weekly", "delivered")]
    assert len(list((store / "releases").iterdir())) == 1


def test_a_run_for_a_recipient_not_configured_releases_nothing(
    database: Database, tmp_path: Path
) -> None:
    """No recipient configured at 06:00: nothing on record, nothing claimed; the run waits."""
    settings = Settings(home=tmp_path / "home", policies_dir=POLICIES, recipients=())
    init_keys(settings)
    export = write_csv(tmp_path / "export.csv", dwelling_rows(6, phases=PHASES))
    with session_scope(make_session_factory(database.engine)) as session:
        ingest_file(session, export, org="bo-vest", now=MONDAY - dt.timedelta(days=1))
    loaded, problems = load_policies([POLICIES])
    assert not problems
    runner = Runner(settings, database.engine, lambda: tuple(loaded), clock=lambda: MONDAY)
    with capture_logs() as logs:
        runner.step()
        runner.step()  # within the backoff: not tried, not logged again
    with database.engine.connect() as connection:
        assert list(connection.execute(select(Release.id))) == []
        assert list(connection.execute(select(SchedulerRun.policy_id))) == []
    assert [e["failures"] for e in logs if e["event"] == "scheduler.run_failed"] == [1]
