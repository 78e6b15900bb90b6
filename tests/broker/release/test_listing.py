"""The weekly list: the set a recipient holds after a release, sorted, with what changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from databases import Database
from listings import LATER, MUNICIPALITY, NOTICE, ListWorld, mixed_street_rows, rows, weekly
from sqlalchemy import event

from broker.db import session_scope
from broker.disclosure import purge
from broker.errors import InputError, NotFound
from broker.policy import Mode, Transform
from broker.policy.service import explain
from broker.release import (
    Change,
    ChangeKind,
    Listing,
    ListPage,
    Period,
    RowStatus,
    _payload,
    list_page,
    listing,
    newest_releases,
    releases_to,
)
from tests.broker.test_privacy import _assert_absent

PHASE_FIELDS = {"fase", "startdato", "slutdato"}


def _truth(world: ListWorld) -> dict[str, dict[str, object]]:
    """What the policy releases now, by key (the oracle: the pure evaluation)."""
    with session_scope(world.factory) as session:
        plan = explain(session, world.policy, at=world.now.date())
    key = world.ring.reference_key
    made = (
        _payload.record(_payload.recipient_key(key, world.policy.recipient, d.ref), d)
        for d in plan.dwellings
    )
    return {str(record["key"]): record for record in made}


def _as_records(found: Listing) -> dict[str, dict[str, object]]:
    return {
        row.key: {"key": row.key, **row.fields, "phases": [dict(p) for p in row.phases]}
        for row in found.held
    }


def _assert_only_released(found: Listing, world: ListWorld) -> None:
    """Every field of every row is one the policy named; no planted value anywhere."""
    named = set(world.policy.fields)
    for row in found.rows:
        assert set(row.fields) <= named - PHASE_FIELDS
        for phase in row.phases:
            assert set(phase) <= named & PHASE_FIELDS
    _assert_absent(repr(found).encode(), "the listing")
    assert b"0412-" not in repr(found).encode()  # no tenancy number


@pytest.fixture
def changes_world(database: Database, tmp_path: Path) -> ListWorld:
    """A broker releasing the weekly policy in ``changes`` mode."""
    return ListWorld(database, tmp_path, weekly(Mode.CHANGES))


def test_a_chain_of_changes_replays_to_what_the_recipient_holds(changes_world: ListWorld) -> None:
    """A changes release lists the full set (its chain replayed), equal to the evaluation."""
    world = changes_world
    world.upload(rows(6))
    first = world.release()
    world.upload(rows(1, first=2, phases=(NOTICE, LATER)) + rows(5, first=3))
    second = world.release()
    world.upload(rows(1, first=2, phases=(NOTICE, LATER)) + rows(4, first=3) + rows(2, first=8))
    third = world.release()
    modes = [row.mode for row in world.outbox()]
    assert modes == ["snapshot", "changes", "changes"]
    found = world.listing(third)
    assert _as_records(found) == _truth(world)
    assert found.previous is not None
    assert found.previous.id == second
    assert found.release.id == third
    assert found.policy_version == world.policy.version
    assert found.release.policy_hash == world.policy.content_hash
    # Dwelling 7 (held after the second) is gone; 8 and 9 are new.
    statuses = sorted(str(row.status) for row in found.rows)
    assert statuses == ["None"] * 5 + ["new", "new", "withdrawn"]
    _assert_only_released(found, world)
    assert world.listing(first).previous is None


def test_changes_since_the_previous_release_are_marked(changes_world: ListWorld) -> None:
    """New, changed (the phase moved from week 9 to 11) and withdrawn rows are marked."""
    world = changes_world
    world.upload(rows(6))
    world.release()
    world.upload(rows(1, first=2, phases=(NOTICE, LATER)) + rows(4, first=3) + rows(1, first=8))
    found = world.listing(world.release())
    statuses = [row.status for row in found.rows]
    assert statuses.count(RowStatus.NEW) == 1
    assert statuses.count(RowStatus.WITHDRAWN) == 1
    (changed,) = [row for row in found.rows if row.status is RowStatus.CHANGED]
    assert changed.changes == (
        Change(
            ChangeKind.PHASE_MOVED,
            "genhusning",
            Period("2027-W09", "2027-W26"),
            Period("2027-W11", "2027-W26"),
        ),
    )
    gone = next(row for row in found.rows if row.status is RowStatus.WITHDRAWN)
    assert gone.fields["vejnavn"] == "Prøvevej"  # shown with its last known record
    assert gone.phases


def test_the_first_list_marks_nothing(database: Database, tmp_path: Path) -> None:
    """The first release of a policy has nothing to compare with: no row is marked."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(6))
    found = world.listing(world.release())
    assert found.first
    assert len(found.rows) == 6
    assert all(row.status is None and not row.changes for row in found.rows)


def test_snapshots_compare_with_the_previous_snapshot(database: Database, tmp_path: Path) -> None:
    """Under a snapshot policy, the second list is compared with the first."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(6))
    world.release()
    world.upload(rows(7))
    found = world.listing(world.release())
    assert [row.status for row in found.rows].count(RowStatus.NEW) == 1
    assert len(found.held) == 7


def test_rows_are_sorted_by_street_number_floor_and_door(
    database: Database, tmp_path: Path
) -> None:
    """Street (æ, ø, å last), house number (2 < 10 < 10A), floor (kl, st, 1), door (tv, mf, th)."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(mixed_street_rows())
    found = world.listing(world.release())
    order = [
        " ".join(str(row.fields[n]) for n in ("vejnavn", "husnr", "etage", "doer"))
        for row in found.rows
    ]
    assert order == [
        "Prøvevej 2 2 mf",
        "Prøvevej 10 kl mf",
        "Prøvevej 10 st 3",
        "Prøvevej 10 1 tv",
        "Prøvevej 10 1 th",
        "Prøvevej 10A st tv",
        "Ærtevej 5 st tv",
        "Østervej 5 st tv",
        "Ågade 1 st tv",
        "Åvej 2 st tv",
    ]
    assert found.streets == ("Prøvevej", "Ærtevej", "Østervej", "Ågade", "Åvej")


def test_filters_by_phase_and_street(database: Database, tmp_path: Path) -> None:
    """Filtering keeps the rows with that phase on that street; unknown values are refused."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(mixed_street_rows())
    found = world.listing(world.release())
    assert found.phase_kinds == ("varsling", "genhusning")
    on_street = found.filtered(street="Prøvevej")
    assert len(on_street.rows) == 6
    assert {row.fields["vejnavn"] for row in on_street.rows} == {"Prøvevej"}
    assert on_street.street_filter == "Prøvevej"
    assert len(found.filtered(phase="genhusning", street="Åvej").rows) == 1
    with pytest.raises(InputError) as refused:
        found.filtered(phase="nedpakning", street="Nowhere")
    assert [p.column for p in refused.value.problems] == ["phase", "street"]


def test_a_policy_keeping_fewer_fields_lists_only_those(database: Database, tmp_path: Path) -> None:
    """A policy without street or dates: rows hold only what it named, and still sort."""
    fields = {"husnr": Transform.KEEP, "etage": Transform.KEEP, "fase": Transform.KEEP}
    world = ListWorld(database, tmp_path, weekly(fields=fields))
    world.upload(rows(6))
    found = world.listing(world.release())
    assert len(found.rows) == 6
    assert found.streets == ()
    assert found.field_names == ("husnr", "etage")
    assert found.phase_field_names == ("fase",)
    _assert_only_released(found, world)


def test_a_purged_release_says_so(changes_world: ListWorld) -> None:
    """After the retention purge the list is gone, and the listing says so."""
    world = changes_world
    world.upload(rows(6))
    first = world.release()
    world.upload(rows(7))
    second = world.release()
    world.now += dt.timedelta(days=400)
    with session_scope(world.factory) as session:
        assert purge(session, world.ring, at=world.now, before=world.now.date()) > 0
    for release_id in (first, second):
        found = world.listing(release_id)
        assert found.purged
        assert found.rows == ()


def test_a_release_to_another_municipality_is_not_found(database: Database, tmp_path: Path) -> None:
    """A release is listed only to the municipality it is addressed to."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(6))
    release_id = world.release()
    with session_scope(world.factory) as session, pytest.raises(NotFound):
        listing(session, "glostrup", release_id)
    with session_scope(world.factory) as session:
        assert releases_to(session, "glostrup") == []
        assert [r.id for r in releases_to(session, MUNICIPALITY)] == [release_id]


def test_releases_are_listed_newest_first_and_newest_per_policy(
    database: Database, tmp_path: Path
) -> None:
    """`releases_to` lists newest first; `newest_releases` one per policy."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(6))
    first = world.release()
    world.upload(rows(7))
    second = world.release()
    with session_scope(world.factory) as session:
        assert [r.id for r in releases_to(session, MUNICIPALITY)] == [second, first]
        assert [r.id for r in releases_to(session, MUNICIPALITY, policy_id="other")] == []
        newest = newest_releases(session, MUNICIPALITY)
    assert [r.id for r in newest] == [second]
    assert newest[0].status == "delivered"


def test_the_query_count_does_not_grow_with_the_chain(changes_world: ListWorld) -> None:
    """Listing the 2nd or the 6th release of a chain of changes takes the same queries."""
    world = changes_world
    ids = []
    for count in range(6, 12):
        world.upload(rows(count))
        ids.append(world.release())
    assert [row.mode for row in world.outbox()].count("snapshot") == 1
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(world.database.engine, "before_cursor_execute", count)
    try:
        early = world.listing(ids[1])
        early_count = len(statements)
        statements.clear()
        late = world.listing(ids[-1])
        late_count = len(statements)
    finally:
        event.remove(world.database.engine, "before_cursor_execute", count)
    assert early_count == late_count
    assert late_count <= 6
    assert len(late.held) == 11
    assert len(early.held) == 7


def test_a_purged_previous_release_leaves_nothing_to_compare(
    database: Database, tmp_path: Path
) -> None:
    """When only the previous list was purged, the list shows in full and marks nothing."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(6))
    world.release()
    world.upload(rows(7))
    second = world.release()
    with session_scope(world.factory) as session:
        assert purge(session, world.ring, at=world.now, before=world.now.date()) > 0
    found = world.listing(second)
    assert not found.purged
    assert found.previous_purged
    assert found.previous is not None
    assert len(found.rows) == 7
    assert all(row.status is None for row in found.rows)


def test_the_list_page_shows_the_newest_list_its_series_and_the_other_lists(
    database: Database, tmp_path: Path
) -> None:
    """`list_page`: the newest list by default, any of its series by id, the others apart."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(6))
    first = world.release()
    world.upload(rows(7))
    second = world.release()
    world.policy = weekly(id="albertslund-hjemmepleje-weekly", recipient="albertslund/hjemmepleje")
    other = world.release(deliver=False)
    with session_scope(world.factory) as session:
        newest = list_page(session, MUNICIPALITY)
        earlier = list_page(session, MUNICIPALITY, first)
    assert newest.listing is not None
    assert newest.listing.release.id == other
    assert [r.id for r in newest.history] == [other]
    assert [r.id for r in newest.others] == [second]
    assert earlier.listing is not None
    assert earlier.listing.release.id == first
    assert [r.id for r in earlier.history] == [second, first]
    assert [r.id for r in earlier.others] == [other]


def test_the_list_page_filters_and_leaves_off_a_filter_not_in_the_list(
    database: Database, tmp_path: Path
) -> None:
    """A filter narrows the rows; a value the list does not hold is left off, and named."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(mixed_street_rows())
    release_id = world.release()
    with session_scope(world.factory) as session:
        page = list_page(session, MUNICIPALITY, release_id, street="Prøvevej")
        assert page.listing is not None
        assert {row.fields["vejnavn"] for row in page.listing.rows} == {"Prøvevej"}
        assert page.listing.street_filter == "Prøvevej"
        assert page.problems == ()
        both = list_page(session, MUNICIPALITY, release_id, phase="nedrivning", street="Prøvevej")
        gone = list_page(session, MUNICIPALITY, release_id, street="Gl. Vej")
    assert both.listing is not None
    assert both.listing.phase_filter is None
    assert both.listing.street_filter == "Prøvevej"
    assert [p.column for p in both.problems] == ["phase"]
    assert gone.listing is not None
    assert gone.listing.street_filter is None
    assert len(gone.listing.rows) == len(mixed_street_rows()) // 2  # all ten dwellings
    assert [p.column for p in gone.problems] == ["street"]


def test_the_list_page_of_a_municipality_without_lists_or_of_another(
    database: Database, tmp_path: Path
) -> None:
    """No list yet: an empty page; another municipality's release: not found, as an unknown id."""
    world = ListWorld(database, tmp_path, weekly())
    with session_scope(world.factory) as session:
        assert list_page(session, MUNICIPALITY) == ListPage(None)
    world.upload(rows(6))
    release_id = world.release()
    with session_scope(world.factory) as session:
        assert list_page(session, "glostrup") == ListPage(None)
        for unknown in (release_id, "rel-000000000000000000000000"):
            with pytest.raises(NotFound):
                list_page(session, "glostrup", unknown)
