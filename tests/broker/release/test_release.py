"""The one release path: evaluate, record the entry and the outbox row together, changes mode."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import httpx
import pytest
import rfc8785
from databases import Database
from factories import dwelling_rows, write_csv
from publishing import deliver_published
from sqlalchemy import func, select

from audit import reference_proof, references_root, verify_receipt, verify_reference
from audit._storage import log_entries
from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.disclosure.models import EntryDwelling
from broker.disclosure.publishing import integrate_pending
from broker.ingest.service import ingest_file
from broker.keys import KeyRing, init_keys, load_keys
from broker.policy import Mode, Policy, load_policy_file
from broker.release import Release, release, release_body

POLICIES = Path(__file__).resolve().parents[3] / "policies"
RUN = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)  # a Monday, 06:00 in Copenhagen
RELEASED = {"key", "adresseid", "vejnavn", "husnr", "etage", "doer", "postnr", "postnrnavn"}
PHASES = (("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),)


def weekly(mode: Mode = Mode.SNAPSHOT) -> Policy:
    loaded, problems = load_policy_file(POLICIES / "albertslund-visitation-weekly.yaml")
    assert loaded is not None, problems
    return loaded.policy.model_copy(update={"mode": mode})


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    settings = Settings(home=tmp_path)
    init_keys(settings)
    return load_keys(settings)


def upload(database: Database, tmp_path: Path, rows: list[dict[str, str]]) -> None:
    path = write_csv(tmp_path / "export.csv", rows)
    with session_scope(make_session_factory(database.engine)) as session:
        ingest_file(session, path, org="bo-vest", now=RUN)


def run(database: Database, ring: KeyRing, policy: Policy) -> Release | None:
    with session_scope(make_session_factory(database.engine)) as session:
        return release(session, ring, policy, run_at=RUN, now=RUN).release


def deliver(database: Database, tmp_path: Path, ring: KeyRing, *, fail: bool = False) -> list[str]:
    """Deliver what is due by a directory drop (``fail``: one that cannot be written, once)."""
    drop = tmp_path / "drop"
    if fail:
        (tmp_path / "not-a-directory").write_text("a file where the drop directory should be")
        drop = tmp_path / "not-a-directory" / "drop"
    recipient = RecipientSettings(id="albertslund/visitation", directory=drop)  # type: ignore[arg-type]
    settings = Settings(home=tmp_path, recipients=(recipient,), delivery_attempts=1)
    with httpx.Client() as client:
        attempts = deliver_published(
            make_session_factory(database.engine), settings, ring, client, lambda: RUN
        )
    assert all(attempt.delivered is not fail for attempt in attempts)
    return [attempt.release_id for attempt in attempts]


def body(item: Release) -> dict[str, object]:
    """Return the stored content and salt (the receipt is cut at delivery)."""
    return {"release": json.loads(item.content), "salt": item.salt.hex()}


def delivered(database: Database, ring: KeyRing, item: Release) -> dict[str, object]:
    """Return the body as it would be delivered once published, receipt included."""
    integrate_pending(database.engine, ring)
    with session_scope(make_session_factory(database.engine)) as session:
        document = json.loads(release_body(session, Settings(), item))
    assert isinstance(document, dict)
    return document


def test_a_release_holds_exactly_the_policys_fields_and_proves_itself(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Records carry only named fields (dates as ISO weeks); the receipt and commitment check."""
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    made = run(database, ring, weekly())
    assert made is not None
    document = delivered(database, ring, made)
    assert document["release"] == body(made)["release"]
    content = document["release"]
    assert isinstance(content, dict)
    assert content["in_scope"] == 6
    for record in content["dwellings"]:
        assert set(record) == RELEASED | {"phases"}
        assert record["phases"] == [
            {"fase": "genhusning", "startdato": "2027-W09", "slutdato": "2027-W26"}
        ]
    proven = verify_receipt(str(document["receipt"]), ring.origin, ring.verifiers())
    entry = json.loads(proven.entry)
    assert (entry["event"], entry["release_id"], entry["seq"]) == ("release", made.id, made.log_seq)
    salt = bytes.fromhex(str(document["salt"]))
    assert entry["commitment"] == hashlib.sha256(salt + rfc8785.dumps(content)).hexdigest()
    # The dwellings through one root over their keyed references (no ids, no list).
    assert "dwellings" not in entry
    assert entry["dwellings_count"] == 6
    with database.engine.connect() as connection:
        indexed = list(
            connection.scalars(
                select(EntryDwelling.reference)
                .where(EntryDwelling.seq == made.log_seq)
                .order_by(EntryDwelling.reference)
            )
        )
    assert len(indexed) == 6
    assert all(len(ref) == 64 for ref in indexed)  # keyed references
    assert entry["dwellings_root"] == references_root(indexed)
    for ref in indexed:
        proof = reference_proof(indexed, ref)
        assert verify_reference(ref, proof, entry["dwellings_root"], 6)
        assert not verify_reference(ref, proof, entry["dwellings_root"], 7)
    other = reference_proof(indexed, indexed[0])
    assert not verify_reference(indexed[1], other, entry["dwellings_root"], 6)


def test_below_min_dwellings_nothing_is_released_or_recorded(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Four dwellings under a minimum of five: no release, no entry, no outbox row."""
    upload(database, tmp_path, dwelling_rows(4, phases=PHASES))
    assert run(database, ring, weekly()) is None
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(log_entries)) == 0
        assert connection.scalar(select(func.count()).select_from(Release)) == 0


def test_changes_mode_sends_additions_changes_and_withdrawals(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Across three uploads, `changes` sends only what is new, changed or withdrawn."""
    policy = weekly(Mode.CHANGES)
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    first = run(database, ring, policy)
    assert first is not None
    content = body(first)["release"]
    assert isinstance(content, dict)
    # Nothing was delivered before: the first is the whole set, to replace any held.
    assert (content["mode"], content["resync"], content["base_release"]) == ("snapshot", True, None)
    records = content["dwellings"]
    assert len(records) == 6
    assert deliver(database, tmp_path, ring) == [first.id]
    # Dwelling 1 of the factory is Husnr 1, ground floor, left door.
    (first_key,) = [
        r["key"] for r in records if (r["husnr"], r["etage"], r["doer"]) == ("1", "st", "tv")
    ]

    # Second upload: dwelling 6 moves a week, dwelling 7 is new.
    later = (("genhusning", dt.date(2027, 3, 8), dt.date(2027, 6, 30)),)
    rows = dwelling_rows(5, phases=PHASES) + dwelling_rows(2, first=6, phases=later)
    upload(database, tmp_path, rows)
    second = run(database, ring, policy)
    assert second is not None
    content = body(second)["release"]
    assert isinstance(content, dict)
    assert (content["mode"], content["resync"], content["base_release"]) == (
        "changes",
        False,
        first.id,
    )
    assert len(content["dwellings"]) == 2
    assert content["withdrawn"] == []
    assert {r["phases"][0]["startdato"] for r in content["dwellings"]} == {"2027-W10"}
    assert deliver(database, tmp_path, ring) == [second.id]

    # Third upload: dwelling 1 is no longer affected; nothing else changes.
    upload(database, tmp_path, dwelling_rows(6, first=2, phases=PHASES)[:4] + rows[5:])
    third = run(database, ring, policy)
    assert third is not None
    content = body(third)["release"]
    assert isinstance(content, dict)
    assert (content["mode"], content["base_release"]) == ("changes", second.id)
    assert content["dwellings"] == []
    assert content["withdrawn"] == [first_key]  # only which dwelling, nothing else
    assert deliver(database, tmp_path, ring) == [third.id]

    # Nothing changed since: nothing is released.
    assert run(database, ring, policy) is None


def test_after_a_release_not_delivered_the_next_is_a_resync(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Nothing goes out while the newest release is pending and current; after a failure, all."""
    policy = weekly(Mode.CHANGES)
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    first = run(database, ring, policy)
    assert first is not None
    assert run(database, ring, policy) is None  # on its way, and still the truth
    # Dwelling 7 is new while the first is undelivered: everything again, as a resync.
    upload(database, tmp_path, dwelling_rows(7, phases=PHASES))
    second = run(database, ring, policy)
    assert second is not None
    content = body(second)["release"]
    assert isinstance(content, dict)
    assert (content["mode"], content["resync"], content["base_release"]) == ("snapshot", True, None)
    assert (len(content["dwellings"]), content["withdrawn"]) == (7, [])
    assert second.mode == "snapshot"

    assert deliver(database, tmp_path, ring, fail=True) == [first.id]  # the second waits
    assert run(database, ring, policy) is None
    assert deliver(database, tmp_path, ring, fail=True) == [second.id]
    # Nothing changed, but the recipient's set is not known: everything again.
    third = run(database, ring, policy)
    assert third is not None
    content = body(third)["release"]
    assert isinstance(content, dict)
    assert (content["mode"], content["resync"], len(content["dwellings"])) == ("snapshot", True, 7)
