"""The synthetic demo export: shape, plan, fake personal values and the CSV file."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from broker.demo import DEMO_HEADINGS, generate_demo_rows, write_demo_csv
from broker.ingest import ingest_file
from broker.renovation import Dwelling

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

START = dt.date(2025, 1, 6)
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.org/renovation-broker/demo")
DISPOSITIONS = {"renoveres", "sammenlaegges", "opdeles", "nedrives", "nybyggeri"}
PHASES = {
    "varsling",
    "nedpakning",
    "genhusning",
    "udpakning",
    "hjemkomst",
    "genetablering",
    "haandvaerkeradgang",
    "mangelgennemgang",
}
PERSONAL = (
    "Lejer navn",
    "CPR",
    "Telefon",
    "E-mail",
    "Bemærkning",
    "Særlige behov",
    "Genhusningsadresse",
)
DMY = re.compile(r"^([0-9]{2})([-.])([0-9]{2})\2([0-9]{4})$")
ISO = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")

Rows = list[dict[str, str]]


def parse_date(raw: str) -> dt.date:
    """Parse ``dd-mm-yyyy``, ``dd.mm.yyyy`` or ``yyyy-mm-dd``."""
    match = DMY.match(raw)
    if match is not None:
        return dt.date(int(match.group(4)), int(match.group(3)), int(match.group(1)))
    match = ISO.match(raw)
    if match is not None:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    raise ValueError(raw)


def date_format(raw: str) -> str:
    """Name the form a date is written in."""
    if ISO.match(raw):
        return "iso"
    match = DMY.match(raw)
    assert match is not None, raw
    return "dmy" + match.group(2)


def by_dwelling(rows: Rows) -> dict[str, Rows]:
    """Group rows by tenancy number."""
    groups: dict[str, Rows] = defaultdict(list)
    for row in rows:
        groups[row["Lejemålsnr"]].append(row)
    return groups


def phase_starts(rows: Rows, kind: str) -> dict[str, dt.date]:
    """Start of one phase kind per tenancy number."""
    return {r["Lejemålsnr"]: parse_date(r["Startdato"]) for r in rows if r["Fase"] == kind}


@pytest.fixture(scope="module", params=[2620, 7, 123456])
def rows(request: pytest.FixtureRequest) -> Rows:
    return generate_demo_rows(start=START, seed=request.param)


def test_306_dwellings_with_unique_addresses(rows: Rows) -> None:
    """There are exactly 306 tenancy numbers, each with its own address."""
    dwellings = by_dwelling(rows)
    assert len(dwellings) == 306
    addresses = {}
    for number, group in dwellings.items():
        forms = {(r["Vejnavn"], r["Husnr"], r["Etage"], r["Dør"]) for r in group}
        assert len(forms) == 1, number
        street, house, floor, door = forms.pop()
        addresses[number] = (street, house, floor.lower().rstrip("."), door.lower())
    assert len(set(addresses.values())) == 306
    floors = {address[2] for address in addresses.values()}
    doors = {address[3] for address in addresses.values()}
    assert floors == {"st", "1", "2", "3"}
    assert doors == {"tv", "th", "mf"}
    assert len({address[0] for address in addresses.values()}) in {2, 3}


def test_dwelling_columns_and_ids(rows: Rows) -> None:
    """Fixed columns hold the demo values and AdresseID is uuid5 of the tenancy number."""
    for row in rows:
        assert list(row) == list(DEMO_HEADINGS)
        assert row["Afdeling"] == "blokland"
        assert (row["Postnr"], row["By"], row["Kommunekode"]) == ("2620", "Albertslund", "0165")
        assert row["Fase"] in PHASES
        assert row["AdresseID"] == str(uuid.uuid5(NAMESPACE, row["Lejemålsnr"]))
        assert re.fullmatch(r"[0-9]{4}-[0-9]{4}-[0-9]{3}", row["Lejemålsnr"])
        assert re.fullmatch(r"[1-9][0-9]{0,2}A?", row["Husnr"])


def test_lenient_forms_are_exercised(rows: Rows) -> None:
    """Dates, floors and doors come in the mixed forms a real export has."""
    formats = {date_format(r[c]) for r in rows for c in ("Startdato", "Slutdato")}
    assert formats == {"dmy-", "dmy.", "iso"}
    assert any(r["Etage"].endswith(".") for r in rows)
    assert any(r["Dør"].isupper() for r in rows)
    assert any(r["Husnr"].endswith("A") for r in rows)


def test_notice_at_least_92_days_before_rehousing(rows: Rows) -> None:
    """Varsling starts at least 92 days before genhusning for every dwelling with both."""
    notices = phase_starts(rows, "varsling")
    rehousing = phase_starts(rows, "genhusning")
    both = notices.keys() & rehousing.keys()
    assert len(both) >= 300
    for number in both:
        assert (rehousing[number] - notices[number]).days >= 92, number
        assert notices[number] >= START


def test_stairwells_rehoused_one_at_a_time(rows: Rows) -> None:
    """No two stairwells begin their rehousing on the same day."""
    first: dict[tuple[str, str], dt.date] = {}
    sizes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        stairwell = (row["Vejnavn"], row["Husnr"])
        sizes[stairwell].add(row["Lejemålsnr"])
        if row["Fase"] == "genhusning":
            start = parse_date(row["Startdato"])
            first[stairwell] = min(first.get(stairwell, start), start)
    assert first.keys() == sizes.keys()
    starts = sorted(first.values())
    assert len(set(starts)) == len(starts)
    assert all((later - earlier).days >= 7 for earlier, later in itertools.pairwise(starts))
    assert all(8 <= len(numbers) <= 12 for numbers in sizes.values())


def test_dispositions_and_replacements(rows: Rows) -> None:
    """Every disposition occurs, and Erstatter names existing tenancy numbers."""
    dwellings = by_dwelling(rows)
    disposition = {n: {r["Disposition"] for r in g} for n, g in dwellings.items()}
    assert all(len(kinds) == 1 for kinds in disposition.values())
    assert {kind for kinds in disposition.values() for kind in kinds} == DISPOSITIONS
    replaces = {n: {r["Erstatter"] for r in g} for n, g in dwellings.items()}
    assert all(len(values) == 1 for values in replaces.values())
    named = {n: values.pop().split() for n, values in replaces.items()}
    for number, old in named.items():
        assert set(old) <= dwellings.keys()
        assert number not in old
    merged = [old for n, old in named.items() if disposition[n] == {"sammenlaegges"} and old]
    assert len(merged) == 1
    assert len(merged[0]) == 2
    split = [old for n, old in named.items() if disposition[n] == {"opdeles"} and old]
    assert len(split) == 2
    assert split[0] == split[1]
    assert len(split[0]) == 1
    for number, group in dwellings.items():
        kinds = {r["Fase"] for r in group}
        if disposition[number] == {"nybyggeri"}:
            assert not named[number]
            assert kinds == {"hjemkomst", "genetablering", "mangelgennemgang"}
        if disposition[number] == {"nedrives"}:
            assert kinds <= {"varsling", "nedpakning", "genhusning"}
            assert {"varsling", "genhusning"} <= kinds
        if disposition[number] == {"renoveres"}:
            assert not named[number]


def test_personal_values_are_fake(rows: Rows) -> None:
    """CPR values are never dates, no phone numbers, only example.org e-mail, DEMO- names."""
    for row in rows:
        cpr = row["CPR"]
        assert re.fullmatch(r"[0-9]{6}-[0-9]{4}", cpr)
        day, month, year = int(cpr[0:2]), int(cpr[2:4]), int(cpr[4:6])
        for century in (1900, 2000):
            with pytest.raises(ValueError, match=r"must be in|out of range"):
                dt.date(century + year, month, day)
        assert not row["Telefon"]
        assert row["E-mail"].endswith("@example.org")
        assert row["Lejer navn"].startswith("DEMO-")
        for column in ("Bemærkning", "Særlige behov", "Genhusningsadresse"):
            assert not row[column] or row[column].startswith("DEMO-")
    assert any(row["Særlige behov"] for row in rows)
    assert any(not row["Særlige behov"] for row in rows)


def test_personal_values_constant_per_dwelling(rows: Rows) -> None:
    """Every row of a dwelling carries the same personal values."""
    for number, group in by_dwelling(rows).items():
        assert len({tuple(r[c] for c in PERSONAL) for r in group}) == 1, number


def test_no_long_digit_runs_outside_cpr(rows: Rows) -> None:
    """Columns the broker keeps hold no 8- or 10-digit runs and no 6+4 digit groups."""
    kept = [c for c in DEMO_HEADINGS if c not in PERSONAL]
    pattern = re.compile(r"(?<![0-9-])[0-9]{6}[ -]?[0-9]{4}(?![0-9-])|[0-9]{8}")
    for row in rows:
        for column in kept:
            if column != "AdresseID":
                assert not pattern.search(row[column]), column


def test_same_seed_same_rows() -> None:
    """The same start and seed give identical rows; another seed gives other rows."""
    assert generate_demo_rows(start=START, seed=5) == generate_demo_rows(start=START, seed=5)
    assert generate_demo_rows(start=START) == generate_demo_rows(start=START, seed=2620)
    assert generate_demo_rows(start=START, seed=5) != generate_demo_rows(start=START, seed=6)


def test_write_demo_csv(tmp_path: Path) -> None:
    """The CSV file starts with a BOM, uses ; and CRLF, and holds the returned row count."""
    path = tmp_path / "demo.csv"
    count = write_demo_csv(path, start=START)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.reader(handle, delimiter=";"))
    assert tuple(read[0]) == DEMO_HEADINGS
    assert len(read) - 1 == count
    assert all(len(row) == len(DEMO_HEADINGS) for row in read)
    rows = [dict(zip(DEMO_HEADINGS, row, strict=True)) for row in read[1:]]
    assert rows == generate_demo_rows(start=START)
    assert [p.name for p in tmp_path.iterdir()] == ["demo.csv"]


def test_write_demo_csv_replaces_file(tmp_path: Path) -> None:
    """Writing again over an existing file replaces it and leaves no temporary file."""
    path = tmp_path / "demo.csv"
    path.write_text("old", encoding="utf-8")
    count = write_demo_csv(path, start=START, seed=9)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfAfdeling;")
    assert count == len(generate_demo_rows(start=START, seed=9))
    assert [p.name for p in tmp_path.iterdir()] == ["demo.csv"]


@pytest.mark.parametrize("start", [dt.date(2025, 1, 6), dt.date(2027, 12, 20)])
def test_phase_dates_ordered_and_within_plan(start: dt.date) -> None:
    """Each phase starts on or before its end, and the plan fits in about two years."""
    rows = generate_demo_rows(start=start)
    limit = start + dt.timedelta(days=round(2.5 * 365))
    for row in rows:
        begin, end = parse_date(row["Startdato"]), parse_date(row["Slutdato"])
        assert start <= begin <= end <= limit
    for group in by_dwelling(rows).values():
        dates = {r["Fase"]: parse_date(r["Startdato"]) for r in group}
        assert len(dates) == len(group)
        if "nedpakning" in dates:
            assert dates["nedpakning"] < dates["genhusning"]
        if "hjemkomst" in dates and "genhusning" in dates:
            assert dates["genhusning"] < dates["hjemkomst"]
        if "mangelgennemgang" in dates:
            assert dates["hjemkomst"] < dates["mangelgennemgang"]


def test_demo_export_loads_into_the_broker(session: Session, tmp_path: Path) -> None:
    """The demo export ingests cleanly: 306 dwellings, every personal column dropped."""
    path = tmp_path / "demo.csv"
    write_demo_csv(path, start=dt.date(2026, 6, 1))
    report = ingest_file(session, path, org="bo-vest", now=dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    assert report.stats.dwellings == 306
    assert report.dropped_columns == (
        "Lejer navn",
        "CPR",
        "Telefon",
        "E-mail",
        "Bemærkning",
        "Særlige behov",
        "Genhusningsadresse",
    )
    dispositions = set(session.scalars(select(Dwelling.disposition)))
    assert dispositions == {"renoveres", "sammenlaegges", "opdeles", "nedrives", "nybyggeri"}


def test_next_weeks_export_moves_one_stairwell_and_leaves_one_dwelling_out(
    session: Session, tmp_path: Path
) -> None:
    """What the rehousing pages' preview shows with `make run`: changed dates and a withdrawal."""
    from broker.ingest import read_upload  # noqa: PLC0415 - local to this test
    from broker.renovation.preview import Change, WithdrawGuard, preview_upload  # noqa: PLC0415

    now = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    current = tmp_path / "now.csv"
    write_demo_csv(current, start=START)
    ingest_file(session, current, org="bo-vest", now=now)
    revised = tmp_path / "next.csv"
    write_demo_csv(revised, start=START, revised=True)
    found = preview_upload(session, read_upload(revised).upload, org="bo-vest")
    (department,) = found.departments
    assert department.count(Change.NEW) == 0
    assert department.withdrawn == 1
    changed = [item for item in department.changes if item.change is Change.CHANGED]
    assert changed
    for item in changed:
        assert all(
            p.old is not None and p.new is not None and p.new[0] - p.old[0] == dt.timedelta(7)
            for p in item.phases
        )
    assert not WithdrawGuard().over(found)
