"""Every entry is indexed, in its own transaction, under the organisations it concerns.

The index cuts what an auditor token reads. Each kind of entry is made by the
service that makes it in production, on SQLite and PostgreSQL; migration 0012
rebuilds exactly the same index from the entries alone.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from databases import Database
from factories import dwelling_rows, write_csv
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from audit import Draft
from audit._storage import log_entries
from broker.access import Principal, Role, create_token
from broker.config import Settings
from broker.contact.service import close_unanswered, request_check
from broker.db import alembic_config, make_session_factory, session_scope, upgrade
from broker.disclosure import (
    EntryFilter,
    audit_read,
    entries,
    objection_changed,
    policy_registered,
    purge,
    record,
)
from broker.disclosure.models import LOG_WIDE, EntryFacts, EntryOrg
from broker.ingest import ingest_file
from broker.keys import init_keys, load_keys, rotate_keys
from broker.policy import Policy, load_policy_file
from broker.policy.models import PolicyVersion
from broker.policy.service import record_versions
from broker.release import release
from broker.renovation import Dwelling

POLICIES = Path(__file__).resolve().parents[3] / "policies"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
SOON = (("genhusning", NOW.date() + dt.timedelta(days=10), NOW.date() + dt.timedelta(days=60)),)


def _policy(name: str) -> Policy:
    loaded, problems = load_policy_file(POLICIES / f"{name}.yaml")
    assert loaded is not None, problems
    return loaded.policy


def _index(engine: Engine) -> dict[int, set[str]]:
    with engine.connect() as connection:
        found: dict[int, set[str]] = {}
        for seq, org in connection.execute(select(EntryOrg.seq, EntryOrg.org)):
            found.setdefault(int(seq), set()).add(str(org))
        return found


def _facts(engine: Engine) -> list[tuple[object, ...]]:
    columns = (EntryFacts.seq, EntryFacts.event, EntryFacts.recipient, EntryFacts.policy_id)
    with engine.connect() as connection:
        query = select(*columns, EntryFacts.day).order_by(EntryFacts.seq)
        return [tuple(row) for row in connection.execute(query)]


def _events(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        return {int(e["seq"]): str(e["event"]) for e in entries(connection, EntryFilter())}


def _seed(database: Database, home: Path) -> dict[str, int]:
    """Make one entry of every kind, each by its own service; return seq by label."""
    settings = Settings(home=home)
    init_keys(settings)
    ring = load_keys(settings)
    factory = make_session_factory(database.engine)
    weekly, contact = _policy("albertslund-visitation-weekly"), _policy("albertslund-contact-check")
    at: dict[str, int] = {}

    def last(session: Session) -> int:
        return int(session.scalar(select(log_entries.c.seq).order_by(log_entries.c.seq.desc())))

    with session_scope(factory) as session:
        loaded, _ = load_policy_file(POLICIES / "albertslund-visitation-weekly.yaml")
        assert loaded is not None
        record_versions(session, (loaded,), now=NOW)
        record(session, ring, [policy_registered(weekly, at=NOW)])
        at["registered"] = last(session)
        rows = dwelling_rows(6, phases=SOON)
        ingest_file(session, write_csv(home / "export.csv", rows), org="bo-vest", now=NOW)
    with session_scope(factory) as session:
        made = release(session, ring, weekly, run_at=NOW, now=NOW).release
        assert made is not None
        at["release"] = last(session)
        # What the delivery service records: the recipient, never the discloser.
        fields = {"recipient": made.recipient, "policy_id": made.policy_id, "release_id": made.id}
        delivered = {"time": "2026-11-25T08:00:00Z", "event": "delivery", "actor": "broker"}
        record(session, ring, [Draft({**delivered, **fields, "attempts": 1})])
        at["delivery"] = last(session)
        auditor, _ = create_token(session, role="auditor", org="bo-oest", now=NOW)
        record(session, ring, [audit_read("entries", at=NOW, actor=f"token:{auditor.id}")])
        at["token read"] = last(session)
        record(session, ring, [audit_read("list", at=NOW)])
        at["cli read"] = last(session)
    with session_scope(factory) as session:
        coordinator, _ = create_token(
            session,
            role="coordinator",
            org="bo-vest",
            departments=("blokland",),
            contact="k@bo-vest.example",
            now=NOW,
        )
        caller = Principal(coordinator.id, Role.COORDINATOR, "bo-vest", ("blokland",), None)
        dwelling = str(session.scalar(select(Dwelling.ref).order_by(Dwelling.id)))
        request_check(session, ring, caller, contact, dwelling, now=NOW)
        at["check"] = last(session)
        close_unanswered(session, ring, older_than=dt.timedelta(0), now=NOW)
        at["check closed"] = last(session)
        record(session, ring, [objection_changed("ref-1", discloser="bo-vest", added=True, at=NOW)])
        at["objection"] = last(session)
        purge(session, ring, at=NOW)
        at["purge"] = last(session)
    with session_scope(factory) as session:
        rotate_keys(settings, session, at=NOW)
        at["rotation"] = last(session)
    return at


def test_each_kind_of_entry_is_indexed_under_its_parties(
    database: Database, tmp_path: Path
) -> None:
    """Both parties of a release, inherited by its delivery and its check; log-wide events."""
    at = _seed(database, tmp_path)
    index = _index(database.engine)
    assert index[at["registered"]] == {"bo-vest", "albertslund"}
    assert index[at["release"]] == {"bo-vest", "albertslund"}
    assert index[at["delivery"]] == {"bo-vest", "albertslund"}
    assert index[at["check"]] == {"bo-vest", "albertslund"}
    assert index[at["check closed"]] == {"bo-vest", "albertslund"}
    assert index[at["objection"]] == {"bo-vest"}
    assert index[at["token read"]] == {"bo-oest"}
    assert at["cli read"] not in index
    assert index[at["purge"]] == index[at["rotation"]] == {LOG_WIDE}
    # The listing, filtered by the database: Albertslund's auditor, then bo-oest's.
    with database.engine.connect() as connection:
        albertslund = [e["seq"] for e in entries(connection, EntryFilter(), org="albertslund")]
        oest = [e["seq"] for e in entries(connection, EntryFilter(), org="bo-oest", after=0)]
    assert at["delivery"] in albertslund
    assert at["objection"] not in albertslund
    assert oest == [at["token read"], at["purge"], at["rotation"]]


def test_migration_0012_rebuilds_the_same_index_from_the_entries(
    database: Database, tmp_path: Path
) -> None:
    """Down to before 0012 and up again: the index and the policy parties come back equal."""
    _seed(database, tmp_path)
    before = _index(database.engine)
    with database.engine.connect() as connection:
        parties = connection.execute(
            select(PolicyVersion.content_hash, PolicyVersion.discloser, PolicyVersion.recipient)
        ).all()
    previous = ScriptDirectory.from_config(alembic_config()).get_revision("0012").down_revision
    assert isinstance(previous, str)
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, previous)
    upgrade(database.engine)
    assert _index(database.engine) == before
    with database.engine.connect() as connection:
        again = connection.execute(
            select(PolicyVersion.content_hash, PolicyVersion.discloser, PolicyVersion.recipient)
        ).all()
    assert again == parties
    assert parties[0][1:] == ("bo-vest", "albertslund/visitation")
    assert set(_events(database.engine).values()) >= {"delivery", "objection", "key-rotated"}


def test_migration_0013_rebuilds_the_same_facts_from_the_entries(
    database: Database, tmp_path: Path
) -> None:
    """Down to 0012 and up again: the facts come back equal, and the indexes append-only."""
    at = _seed(database, tmp_path)
    before, orgs = _facts(database.engine), _index(database.engine)
    assert [row[0] for row in before] == sorted(_events(database.engine))  # one row per entry
    facts = {int(str(row[0])): row[1:] for row in before}
    weekly = _policy("albertslund-visitation-weekly")
    assert facts[at["delivery"]] == ("delivery", weekly.recipient, weekly.id, dt.date(2026, 11, 25))
    assert facts[at["purge"]] == ("retention-purge", None, None, NOW.date())
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
    assert "log_entry_facts" not in inspect(database.engine).get_table_names()
    upgrade(database.engine)
    assert _facts(database.engine) == before
    assert _index(database.engine) == orgs
    for table in ("log_entry_facts", "log_entry_orgs"):
        with database.engine.connect() as connection, pytest.raises(DBAPIError) as excinfo:
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - a test constant
        assert "the disclosure log is append-only" in str(excinfo.value.orig)
