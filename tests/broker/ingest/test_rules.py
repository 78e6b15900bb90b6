"""Row rules: a bad row rejects the whole upload, every problem listed by row, column and rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from factories import dwelling_rows, export_row, write_csv

from broker.errors import InputError
from broker.ingest import load_mapping, parse_date, read_upload


def _problems(tmp_path: Path, rows: list[dict[str, str]]) -> list[str]:
    with pytest.raises(InputError) as excinfo:
        read_upload(write_csv(tmp_path / "export.csv", rows))
    return [str(problem) for problem in excinfo.value.problems]


@pytest.mark.parametrize(
    ("raw", "date"),
    [
        ("01-03-2027", dt.date(2027, 3, 1)),
        ("1.3.2027", dt.date(2027, 3, 1)),
        ("2027-03-01", dt.date(2027, 3, 1)),
        (" 31.12.2027 ", dt.date(2027, 12, 31)),
    ],
)
def test_date_forms(raw: str, date: dt.date) -> None:
    """Dates as dd-mm-yyyy, dd.mm.yyyy or ISO are read."""
    assert parse_date(raw) == date


def test_each_bad_row_listed(tmp_path: Path) -> None:
    """Bad date, unknown phase, a name in Dør, end before start: each listed, none stored."""
    rows = [
        export_row(Startdato="31-02-2027"),
        export_row(Lejemålsnr="0412-0001-002", Dør="Bodil", Etage="2", Fase="flytning"),
        export_row(Lejemålsnr="0412-0001-003", Etage="3", Slutdato="01-01-2027"),
    ]
    assert _problems(tmp_path, rows) == [
        "row 2, column Startdato: must be a real calendar date",
        "row 3, column Dør: must be tv, th, mf or a door number of up to 4 characters",
        (
            "row 3, column Fase: must be one of varsling, nedpakning, genhusning, udpakning, "
            "hjemkomst, genetablering, haandvaerkeradgang, mangelgennemgang"
        ),
        "row 4, column Slutdato: must not be before Startdato",
    ]


def test_duplicate_dwelling_phase(tmp_path: Path) -> None:
    """The same phase twice for one dwelling points back to the first row."""
    rows = [export_row(), export_row(Startdato="02-03-2027")]
    assert _problems(tmp_path, rows) == [
        "row 3, column Fase: duplicate phase for this dwelling (first at row 2)"
    ]


def test_rows_of_one_dwelling_must_agree(tmp_path: Path) -> None:
    """Two rows with one tenancy number but different addresses are refused."""
    rows = [export_row(), export_row(Fase="varsling", Husnr="14")]
    assert _problems(tmp_path, rows) == [
        "row 3, column Husnr: differs from row 2 of the same Lejemålsnr"
    ]


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("Vejnavn", "Ring 12345678", "a phone number"),
        ("Lejemålsnr", "010190-1234", "a CPR number"),
        ("By", "bodil@example.org", "an e-mail address"),
        ("Fase", "ring 12 34 56 78", "a phone number"),
    ],
)
def test_personal_value_in_kept_column(tmp_path: Path, column: str, value: str, kind: str) -> None:
    """A personal-looking value in a kept column rejects the upload, naming row and column only."""
    problems = _problems(tmp_path, [export_row(**{column: value})])
    assert problems == [f"row 2, column {column}: looks like {kind}: remove personal data"]
    assert all(value not in problem for problem in problems)


def test_missing_required_columns(tmp_path: Path) -> None:
    """Without a required column nothing is read; every missing column is named."""
    rows = [{k: v for k, v in export_row().items() if k not in {"Fase", "Husnr"}}]
    assert _problems(tmp_path, rows) == [
        "column Husnr: required column is missing",
        "column Fase: required column is missing",
    ]


def test_replacements_checked(tmp_path: Path) -> None:
    """Erstatter must name tenancy numbers of the same department's upload."""
    rows = [export_row(Disposition="sammenlaegges", Erstatter="0412-0001-099")]
    assert _problems(tmp_path, rows) == [
        "row 2, column Erstatter: names a tenancy number that is not in this department's upload"
    ]


def test_replacements_and_dispositions_kept(tmp_path: Path) -> None:
    """A merge: two old dwellings and a new one replacing both."""
    old = dwelling_rows(2)
    new = export_row(
        Lejemålsnr="0412-0002-001",
        Husnr="40",
        Disposition="Sammenlægges",
        Erstatter="0412-0000-001, 0412-0000-002",
    )
    parsed = read_upload(write_csv(tmp_path / "export.csv", [*old, new]))
    merged = parsed.upload.departments[0].dwellings[-1]
    assert merged.disposition == "sammenlaegges"
    assert merged.erstatter == ("0412-0000-001", "0412-0000-002")


def test_combined_floor_and_door_column(tmp_path: Path) -> None:
    """An export with `1.tv` in Etage and an empty Dør is split canonically."""
    parsed = read_upload(write_csv(tmp_path / "export.csv", [export_row(Etage="1.tv", Dør="")]))
    dwelling = parsed.upload.departments[0].dwellings[0]
    assert (dwelling.etage, dwelling.doer) == ("1", "tv")
    assert dwelling.address == "Prøvevej 12, 1. tv, 2620 Albertslund"


def test_custom_mapping(tmp_path: Path) -> None:
    """A mapping file renames an ERP's own headings to catalogue fields."""
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text("columns:\n  Gade: vejnavn\n  Periode start: startdato\n")
    row = export_row()
    row["Gade"] = row.pop("Vejnavn")
    row["Periode start"] = row.pop("Startdato")
    parsed = read_upload(
        write_csv(tmp_path / "export.csv", [row]), mapping=load_mapping(mapping_path)
    )
    assert parsed.upload.departments[0].dwellings[0].vejnavn == "Prøvevej"


def test_mapping_to_unknown_field(tmp_path: Path) -> None:
    """A mapping to a field the catalogue does not know is refused."""
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text("columns:\n  Gade: street\n")
    with pytest.raises(InputError) as excinfo:
        load_mapping(mapping_path)
    assert [str(p) for p in excinfo.value.problems] == [
        "column --mapping entry 1: maps to a field the catalogue does not know"
    ]


def test_two_columns_for_one_field(tmp_path: Path) -> None:
    """Two headings carrying the same field are refused rather than guessed between."""
    rows = [{**export_row(), "Vej": "Andenvej"}]
    assert _problems(tmp_path, rows) == ["column Vej: carries the same field as column Vejnavn"]
