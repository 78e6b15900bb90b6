"""What an upload would change, the withdrawal guard, the timeline and staged uploads.

On SQLite and PostgreSQL, through the services the pages and the CLI call.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from factories import csv_bytes, dwelling_rows, export_row, with_personal, write_csv
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from broker.errors import Conflict, InputError, NotFound
from broker.ingest import ingest_file, read_upload, store_upload
from broker.ingest.models import StagedUpload
from broker.ingest.problems import group_problems
from broker.ingest.staging import (
    KEPT_PROBLEMS,
    LIFETIME,
    StaleUpload,
    confirm,
    discard,
    preview,
    stage,
    staged,
)
from broker.renovation import Dwelling, Phase, Upload
from broker.renovation.preview import Change, WithdrawGuard, preview_upload
from broker.renovation.timeline import department_timeline
from tests.broker.test_privacy import PLANTED

NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
MARCH, JUNE = dt.date(2027, 3, 1), dt.date(2027, 6, 30)


def _rows(count: int, *, first: int = 1) -> list[dict[str, str]]:
    return dwelling_rows(count, first=first, phases=(("genhusning", MARCH, JUNE),))


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_preview_names_new_changed_and_withdrawn_and_changes_nothing(
    session: Session, tmp_path: Path
) -> None:
    ingest_file(session, write_csv(tmp_path / "a.csv", _rows(6)), org="bo-vest", now=NOW)
    # Dwelling 2 moves a fortnight, dwelling 6 is left out, dwelling 7 is new.
    rows = _rows(5) + _rows(1, first=7)
    moved = next(r for r in rows if r["Lejemålsnr"].endswith("-002"))
    moved["Startdato"] = "15-03-2027"
    parsed = read_upload(write_csv(tmp_path / "b.csv", rows))
    found = preview_upload(session, parsed.upload, org="bo-vest")
    (department,) = found.departments
    assert (department.code, department.affected_before, department.dwellings) == (
        "blokland",
        6,
        6,
    )
    assert [(c.change, c.address) for c in department.changes] == [
        (Change.CHANGED, "Prøvevej 1, st. mf, 2620 Albertslund"),
        (Change.WITHDRAWN, "Prøvevej 1, 1. th, 2620 Albertslund"),
        (Change.NEW, "Prøvevej 1, 2. tv, 2620 Albertslund"),
    ]
    (phase,) = department.changes[0].phases
    assert (phase.kind, phase.old, phase.new) == (
        "genhusning",
        (MARCH, JUNE),
        (dt.date(2027, 3, 15), JUNE),
    )
    assert department.unchanged == 4
    assert (found.count(Change.NEW), found.withdrawn) == (1, 1)
    # Read only: the stored schedule and the uploads are as before.
    assert _count(session, Upload) == 1
    dwelling_6 = session.scalars(select(Dwelling).where(Dwelling.lejemaalsnr == "0412-0000-006"))
    assert dwelling_6.one().affected


def test_the_guard_stops_a_cut_off_export_until_its_count_is_confirmed(
    session: Session, tmp_path: Path
) -> None:
    ingest_file(session, write_csv(tmp_path / "a.csv", _rows(10)), org="bo-vest", now=NOW)
    cut_off = read_upload(write_csv(tmp_path / "b.csv", _rows(2)))
    guard = WithdrawGuard(share=0.2)
    with pytest.raises(Conflict) as refused:
        store_upload(session, cut_off, org="bo-vest", now=NOW, guard=guard)
    assert "8 dwellings as no longer affected" in str(refused.value)
    assert "confirm the count 8" in str(refused.value)
    (problem,) = refused.value.problems
    assert problem.column == "department blokland"
    assert problem.rule.startswith("8 of 10 affected dwellings would be no longer affected")
    assert _count(session, Upload) == 1
    # Confirming fewer than the count is still refused; the count itself stores it.
    with pytest.raises(Conflict):
        store_upload(session, cut_off, org="bo-vest", now=NOW, guard=WithdrawGuard(0.2, 7))
    report = store_upload(session, cut_off, org="bo-vest", now=NOW, guard=WithdrawGuard(0.2, 8))
    assert report.stats.withdrawn == 8


def test_the_guard_lets_a_small_share_through(session: Session, tmp_path: Path) -> None:
    ingest_file(session, write_csv(tmp_path / "a.csv", _rows(10)), org="bo-vest", now=NOW)
    # 2 of 10 is the share itself, not more than it.
    fewer = read_upload(write_csv(tmp_path / "b.csv", _rows(8)))
    report = store_upload(session, fewer, org="bo-vest", now=NOW, guard=WithdrawGuard(0.2))
    assert report.stats.withdrawn == 2


def test_a_new_department_is_never_guarded(session: Session, tmp_path: Path) -> None:
    parsed = read_upload(write_csv(tmp_path / "a.csv", _rows(3)))
    store_upload(session, parsed, org="bo-vest", now=NOW, guard=WithdrawGuard(0.0))
    assert _count(session, Dwelling) == 3


def test_problems_are_grouped_by_rule_with_their_first_rows(tmp_path: Path) -> None:
    rows = [export_row(Lejemålsnr=f"0412-0001-{n:03d}", Postnr="26x0") for n in range(1, 40)]
    rows.append(export_row(Lejemålsnr="0412-0002-001", Dør="Bodil"))
    with pytest.raises(InputError) as rejected:
        read_upload(write_csv(tmp_path / "bad.csv", rows))
    groups = group_problems(rejected.value.problems)
    assert [(g.column, g.count, g.rows) for g in groups] == [
        ("Postnr", 39, (2, 3, 4, 5, 6)),
        ("Dør", 1, (41,)),
    ]
    assert str(groups[0]).startswith("column Postnr: ")
    assert str(groups[0]).endswith("(39 rows: 2, 3, 4, 5, 6, ...)")
    assert str(groups[1]).startswith("row 41, column Dør: ")
    assert "Bodil" not in str(groups[1])


def test_the_timeline_orders_stairwells_by_when_they_move_out(
    session: Session, tmp_path: Path
) -> None:
    # 60 dwellings: Husnr 1 (dwellings 1-30) and 2 (31-60); number 2 moves out first.
    rows = dwelling_rows(30, phases=(("genhusning", dt.date(2027, 5, 3), dt.date(2027, 8, 27)),))
    rows += dwelling_rows(
        30,
        first=31,
        phases=(
            ("varsling", dt.date(2027, 1, 4), dt.date(2027, 1, 4)),
            ("genhusning", MARCH, JUNE),
        ),
    )
    ingest_file(session, write_csv(tmp_path / "a.csv", rows), org="bo-vest", now=NOW)
    timeline = department_timeline(session, "bo-vest", "blokland")
    assert timeline.kinds == ("varsling", "genhusning")
    assert [(s.address, s.dwellings) for s in timeline.stairwells] == [
        ("Prøvevej 2, 2620 Albertslund", 30),
        ("Prøvevej 1, 2620 Albertslund", 30),
    ]
    assert timeline.stairwells[0].phases == {
        "varsling": (dt.date(2027, 1, 4), dt.date(2027, 1, 4)),
        "genhusning": (MARCH, JUNE),
    }
    with pytest.raises(NotFound):
        department_timeline(session, "fsb", "blokland")


def test_a_staged_upload_waits_for_its_officer_and_is_stored_on_confirmation(
    session: Session, tmp_path: Path
) -> None:
    ingest_file(session, write_csv(tmp_path / "a.csv", _rows(10)), org="bo-vest", now=NOW)
    data = csv_bytes(with_personal(_rows(2), PLANTED))
    upload_id = stage(session, data, name="skema.csv", org="bo-vest", by="u-1", now=NOW)
    waiting = staged(session, upload_id, org="bo-vest", by="u-1", now=NOW)
    assert waiting.parsed is not None
    assert preview(session, waiting).withdrawn == 8
    # What waits holds no personal value (the columns were dropped before it was kept).
    kept = session.execute(text("SELECT * FROM staged_uploads")).all()
    for value in PLANTED.values():
        assert value not in repr(kept)
    # Only its officer, in its organisation, before it expires.
    for org, by, now in (
        ("bo-vest", "u-2", NOW),
        ("fsb", "u-1", NOW),
        ("bo-vest", "u-1", NOW + LIFETIME),
    ):
        with pytest.raises(NotFound):
            staged(session, upload_id, org=org, by=by, now=now)
    with pytest.raises(Conflict):
        confirm(session, upload_id, org="bo-vest", by="u-1", now=NOW, guard=WithdrawGuard())
    assert _count(session, StagedUpload) == 1
    report = confirm(
        session, upload_id, org="bo-vest", by="u-1", now=NOW, guard=WithdrawGuard(0.2, 8)
    )
    assert report.stats.withdrawn == 8
    assert _count(session, StagedUpload) == 0


def test_a_rejected_upload_keeps_its_problems_only_and_can_be_discarded(session: Session) -> None:
    rows = [export_row(Dør="Bodil", CPR=PLANTED["CPR"])]
    upload_id = stage(session, csv_bytes(rows), name="skema.csv", org="bo-vest", by="u-1", now=NOW)
    waiting = staged(session, upload_id, org="bo-vest", by="u-1", now=NOW)
    assert waiting.parsed is None
    assert [(p.row, p.column) for p in waiting.problems] == [(2, "Dør")]
    kept = repr(session.execute(text("SELECT * FROM staged_uploads")).all())
    assert "Bodil" not in kept
    assert PLANTED["CPR"] not in kept
    with pytest.raises(NotFound):
        confirm(session, upload_id, org="bo-vest", by="u-1", now=NOW, guard=WithdrawGuard())
    discard(session, upload_id, org="bo-vest", by="u-1", now=NOW)
    assert _count(session, StagedUpload) == 0
    assert _count(session, Dwelling) == 0


def test_expired_uploads_are_deleted_when_the_next_is_staged(session: Session) -> None:
    data = csv_bytes(_rows(1))
    stage(session, data, name="a.csv", org="bo-vest", by="u-1", now=NOW)
    stage(session, data, name="a.csv", org="bo-vest", by="u-1", now=NOW + LIFETIME)
    assert _count(session, StagedUpload) == 1


def test_a_change_of_disposition_or_municipality_code_is_a_change(
    session: Session, tmp_path: Path
) -> None:
    """What storing would change beyond the phases is shown: disposition, codes, replacements."""
    ingest_file(session, write_csv(tmp_path / "a.csv", _rows(3)), org="bo-vest", now=NOW)
    rows = _rows(3)
    for row in rows:
        if row["Lejemålsnr"].endswith("-001"):
            row.update(Disposition="nedrives", Kommunekode="0101")
    found = preview_upload(
        session, read_upload(write_csv(tmp_path / "b.csv", rows)).upload, org="bo-vest"
    )
    (department,) = found.departments
    (changed,) = department.changes
    assert changed.change is Change.CHANGED
    assert [(f.name, f.old, f.new) for f in changed.fields] == [
        ("disposition", "renoveres", "nedrives"),
        ("kommunekode", "0165", "0101"),
    ]
    assert changed.phases == ()
    assert department.unchanged == 2


def test_a_confirmation_after_another_upload_is_checked_again(
    session: Session, tmp_path: Path
) -> None:
    """A department changed since the file was checked: refused, checked again, then stored."""
    ingest_file(session, write_csv(tmp_path / "a.csv", _rows(10)), org="bo-vest", now=NOW)
    upload_id = stage(session, csv_bytes(_rows(10)), name="a.csv", org="bo-vest", by="u-1", now=NOW)
    later = NOW + dt.timedelta(minutes=5)
    moved = dwelling_rows(10, phases=(("genhusning", dt.date(2027, 5, 3), JUNE),))
    ingest_file(session, write_csv(tmp_path / "b.csv", moved), org="bo-vest", now=later)
    confirmed = later + dt.timedelta(minutes=1)
    with pytest.raises(StaleUpload):
        confirm(session, upload_id, org="bo-vest", by="u-1", now=confirmed, guard=WithdrawGuard())
    # Checked again as of now: the preview says what it changes now, and it may be stored.
    waiting = staged(session, upload_id, org="bo-vest", by="u-1", now=confirmed)
    assert preview(session, waiting).count(Change.CHANGED) == 10
    confirm(session, upload_id, org="bo-vest", by="u-1", now=confirmed, guard=WithdrawGuard())
    starts = set(session.scalars(select(Phase.start)))
    assert starts == {MARCH}


def test_a_flood_of_problems_keeps_its_groups_and_the_first_ten_thousand(session: Session) -> None:
    rows = [
        export_row(Lejemålsnr=f"0412-{n // 1000:04d}-{n % 1000:03d}", Postnr="26x0")
        for n in range(1, KEPT_PROBLEMS + 1_500)
    ]
    upload_id = stage(session, csv_bytes(rows), name="a.csv", org="bo-vest", by="u-1", now=NOW)
    waiting = staged(session, upload_id, org="bo-vest", by="u-1", now=NOW)
    assert waiting.problem_count == KEPT_PROBLEMS + 1_499
    assert len(waiting.problems) == KEPT_PROBLEMS
    (group,) = waiting.groups
    assert (group.column, group.count, group.rows) == (
        "Postnr",
        KEPT_PROBLEMS + 1_499,
        (2, 3, 4, 5, 6),
    )


def test_a_discard_forgets_what_has_expired_too(session: Session) -> None:
    data = csv_bytes(_rows(1))
    stage(session, data, name="a.csv", org="bo-vest", by="u-2", now=NOW)
    later = NOW + LIFETIME
    mine = stage(
        session, data, name="a.csv", org="bo-vest", by="u-1", now=later - dt.timedelta(minutes=1)
    )
    discard(session, mine, org="bo-vest", by="u-1", now=later)
    assert _count(session, StagedUpload) == 0
