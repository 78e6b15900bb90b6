"""Storing uploads, on SQLite and PostgreSQL: whole-department replacement and withdrawals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from factories import dwelling_rows, export_row, write_csv
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.errors import InputError
from broker.ingest import ingest_file
from broker.renovation import Department, Dwelling, DwellingReplacement, Phase, Upload

NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=7)


def _ingest(
    session: Session, tmp_path: Path, rows: list[dict[str, str]], *, now: dt.datetime = NOW
) -> None:
    ingest_file(session, write_csv(tmp_path / "export.csv", rows), org="bo-vest", now=now)


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_stored_canonically(session: Session, tmp_path: Path) -> None:
    """Dwellings and phases are stored in canonical form with an opaque reference."""
    _ingest(session, tmp_path, [export_row(Husnr="12a", Etage="1.", Dør="TV")])
    dwelling = session.scalars(select(Dwelling)).one()
    assert (dwelling.vejnavn, dwelling.husnr, dwelling.etage, dwelling.doer) == (
        "Prøvevej",
        "12A",
        "1",
        "tv",
    )
    assert dwelling.kommunekode == "0165"
    assert dwelling.affected is True
    assert dwelling.ref.startswith("dw-")
    assert "0412" not in dwelling.ref
    phase = session.scalars(select(Phase)).one()
    assert (phase.kind, phase.start, phase.end) == (
        "genhusning",
        dt.date(2027, 3, 1),
        dt.date(2027, 6, 30),
    )
    department = session.scalars(select(Department)).one()
    assert (department.org, department.code) == ("bo-vest", "blokland")


def test_upload_replaces_department_schedule(session: Session, tmp_path: Path) -> None:
    """A second upload replaces phases; a dwelling left out is kept as no longer affected."""
    _ingest(session, tmp_path, dwelling_rows(3))
    refs = dict(session.execute(select(Dwelling.lejemaalsnr, Dwelling.ref)).all())
    one_phase = (("genhusning", dt.date(2027, 4, 1), dt.date(2027, 7, 31)),)
    _ingest(session, tmp_path, dwelling_rows(2, phases=one_phase), now=LATER)

    dwellings = {d.lejemaalsnr: d for d in session.scalars(select(Dwelling))}
    assert {n: d.ref for n, d in dwellings.items()} == refs  # references are stable
    assert [d.affected for d in dwellings.values()] == [True, True, False]
    gone = dwellings["0412-0000-003"]
    assert gone.withdrawn_at == LATER
    assert session.scalars(select(Phase).where(Phase.dwelling_id == gone.id)).all() == []
    assert _count(session, Phase) == 2
    assert {p.start for p in session.scalars(select(Phase))} == {dt.date(2027, 4, 1)}


def test_withdrawn_dwelling_can_return(session: Session, tmp_path: Path) -> None:
    """A dwelling that reappears in a later upload is affected again."""
    _ingest(session, tmp_path, dwelling_rows(2))
    _ingest(session, tmp_path, dwelling_rows(1), now=LATER)
    _ingest(session, tmp_path, dwelling_rows(2), now=LATER + dt.timedelta(days=1))
    assert [d.affected for d in session.scalars(select(Dwelling).order_by(Dwelling.id))] == [
        True,
        True,
    ]
    assert session.scalars(select(Dwelling.withdrawn_at)).all() == [None, None]


def test_other_departments_untouched(session: Session, tmp_path: Path) -> None:
    """An upload for one department leaves every other department as it was."""
    _ingest(session, tmp_path, dwelling_rows(2, department="Blokland"))
    _ingest(session, tmp_path, dwelling_rows(3, department="Hyldespjældet"), now=LATER)
    by_department = dict(
        session.execute(
            select(Department.code, func.count(Dwelling.id))
            .join(Dwelling)
            .where(Dwelling.affected.is_(True))
            .group_by(Department.code)
        ).all()
    )
    assert by_department == {"blokland": 2, "hyldespjældet": 3}


def test_rejected_upload_changes_nothing(session: Session, tmp_path: Path) -> None:
    """A rejected upload leaves the stored schedule exactly as it was."""
    _ingest(session, tmp_path, dwelling_rows(3))
    before = session.execute(select(Phase.dwelling_id, Phase.kind, Phase.start)).all()
    bad = [*dwelling_rows(2), export_row(Lejemålsnr="0412-0009-001", Fase="flytning")]
    with pytest.raises(InputError):
        _ingest(session, tmp_path, bad, now=LATER)
    assert session.execute(select(Phase.dwelling_id, Phase.kind, Phase.start)).all() == before
    assert all(session.scalars(select(Dwelling.affected)))
    assert _count(session, Upload) == 1


def test_replacement_links(session: Session, tmp_path: Path) -> None:
    """A merge is stored as links from the new dwelling to the ones it replaces."""
    new = export_row(
        Lejemålsnr="0412-0002-001",
        Husnr="40",
        Disposition="sammenlaegges",
        Erstatter="0412-0000-001 0412-0000-002",
    )
    _ingest(session, tmp_path, [*dwelling_rows(2), new])
    ids = dict(session.execute(select(Dwelling.lejemaalsnr, Dwelling.id)).all())
    links = set(
        session.execute(
            select(DwellingReplacement.dwelling_id, DwellingReplacement.replaces_id)
        ).all()
    )
    assert links == {
        (ids["0412-0002-001"], ids["0412-0000-001"]),
        (ids["0412-0002-001"], ids["0412-0000-002"]),
    }


def test_upload_recorded_with_dropped_column_names(session: Session, tmp_path: Path) -> None:
    """Each upload is recorded with its counts and the names, not values, of dropped columns."""
    _ingest(session, tmp_path, [{**export_row(), "CPR": "999999-0000"}])
    upload = session.scalars(select(Upload)).one()
    assert upload.dropped_columns == ["CPR"]
    assert (upload.rows, upload.dwellings, upload.phases, upload.withdrawn) == (1, 1, 1, 0)
