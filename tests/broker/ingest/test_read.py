"""Reading exports: CSV encodings and delimiters as Danish Excel writes them, XLSX, JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from factories import (
    HEADINGS,
    PERSONAL_HEADINGS,
    csv_bytes,
    dwelling_rows,
    export_row,
    upload_document,
    with_personal,
    write_csv,
    write_json,
    write_xlsx,
)

from broker.errors import InputError
from broker.ingest import read_upload


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ";"), ("utf-8", ";"), ("utf-8", ","), ("cp1252", ";"), ("cp1252", ",")],
)
def test_csv_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str) -> None:
    """UTF-8 with or without BOM and Windows-1252, comma or semicolon, all read the same."""
    path = write_csv(
        tmp_path / "export.csv", dwelling_rows(2), encoding=encoding, delimiter=delimiter
    )
    parsed = read_upload(path)
    dwellings = parsed.upload.departments[0].dwellings
    assert [d.vejnavn for d in dwellings] == ["Prøvevej", "Prøvevej"]
    assert parsed.rows == 4
    assert parsed.source_format == "csv"


def _rejected(tmp_path: Path, data: bytes) -> list[str]:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as excinfo:
        read_upload(path)
    return [str(problem) for problem in excinfo.value.problems]


@pytest.mark.parametrize(
    ("encoding", "why"),
    [
        ("utf-8", "file's heading row is UTF-8"),
        ("utf-8-sig", "file starts with a UTF-8 byte order mark"),
    ],
)
def test_one_windows_1252_byte_in_a_utf8_file(tmp_path: Path, encoding: str, why: str) -> None:
    """The heading row decides the encoding; a stray byte is reported by row and column."""
    rows = dwelling_rows(3)
    rows[3]["Vejnavn"] = "Skovvej"
    data = csv_bytes(rows, encoding=encoding).replace(b"Skovvej", "Skøvvej".encode("cp1252"))
    assert _rejected(tmp_path, data) == [f"row 5, column Vejnavn: not valid UTF-8 (the {why})"]


def test_stray_byte_in_a_dropped_column_is_never_looked_at(tmp_path: Path) -> None:
    """A dropped column's value is not read, whatever its bytes: the upload is accepted."""
    rows = with_personal(dwelling_rows(2), {"Bemærkning": "Skovvej"})
    data = csv_bytes(rows, encoding="utf-8").replace(b"Skovvej", "Skøvvej".encode("cp1252"))
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    parsed = read_upload(path)
    assert [d.vejnavn for d in parsed.upload.departments[0].dwellings] == ["Prøvevej"] * 2
    assert parsed.dropped_columns == ("Bemærkning",)


def test_windows_1252_heading_row_in_a_file_marked_utf8(tmp_path: Path) -> None:
    """A BOM before a Windows-1252 heading row names the heading cell, not a missing column."""
    data = b"\xef\xbb\xbf" + csv_bytes(dwelling_rows(1), encoding="cp1252")
    why = "not valid UTF-8 (the file starts with a UTF-8 byte order mark)"
    assert _rejected(tmp_path, data) == [
        f"row 1, column 2 (B): {why}",
        f"row 1, column 7 (G): {why}",
    ]


def test_plain_ascii_headings_leave_the_encoding_to_the_rows(tmp_path: Path) -> None:
    """With ASCII headings, a Windows-1252 file is read as one, and a UTF-8 file as UTF-8."""
    rows = [
        {
            ("Lejemaalsnr" if k == "Lejemålsnr" else "Doer" if k == "Dør" else k): v
            for k, v in row.items()
        }
        for row in dwelling_rows(2)
    ]
    for encoding in ("cp1252", "utf-8"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(csv_bytes(rows, encoding=encoding))
        parsed = read_upload(path)
        assert [d.vejnavn for d in parsed.upload.departments[0].dwellings] == ["Prøvevej"] * 2
    rows[1]["Vejnavn"] = "Skovvej"
    data = csv_bytes(rows, encoding="utf-8").replace(b"Skovvej", "Skøvvej".encode("cp1252"))
    assert _rejected(tmp_path, data) == [
        "row 3, column Vejnavn: not valid UTF-8 (the file holds UTF-8 letters elsewhere)"
    ]


def test_xlsx_with_date_cells(tmp_path: Path) -> None:
    """An XLSX workbook is read from its first sheet; real date cells are dates."""
    rows: list[dict[str, str | dt.date]] = [
        {**export_row(), "Startdato": dt.date(2027, 3, 1), "Slutdato": dt.date(2027, 6, 30)}
    ]
    parsed = read_upload(write_xlsx(tmp_path / "export.xlsx", rows))
    phase = parsed.upload.departments[0].dwellings[0].phases[0]
    assert (phase.start, phase.end) == (dt.date(2027, 3, 1), dt.date(2027, 6, 30))
    assert parsed.source_format == "xlsx"


def test_json_upload_drops_unknown_keys_by_name(tmp_path: Path) -> None:
    """Unknown keys in a JSON upload are dropped and named; the rest is validated."""
    document = upload_document(2, lejer_navn="DEMO-Hansen", bemaerkning="DEMO-note")
    parsed = read_upload(write_json(tmp_path / "upload.json", document))
    assert parsed.dropped_columns == ("lejer_navn", "bemaerkning")
    assert len(parsed.upload.departments[0].dwellings) == 2


def test_json_rules_name_the_path(tmp_path: Path) -> None:
    """A JSON upload breaking a rule names the path to the field and the rule."""
    document = upload_document(1)
    document["departments"][0]["dwellings"][0]["phases"][0]["end"] = "2027-01-01"
    with pytest.raises(InputError) as excinfo:
        read_upload(write_json(tmp_path / "upload.json", document))
    assert [str(p) for p in excinfo.value.problems] == [
        "column departments.0.dwellings.0.phases.0: end must not be before start"
    ]


def test_personal_columns_dropped_and_named(tmp_path: Path) -> None:
    """Every column outside the catalogue's kept fields is dropped and named, in file order."""
    rows = with_personal(dwelling_rows(1), dict.fromkeys(PERSONAL_HEADINGS, "DEMO"))
    parsed = read_upload(write_csv(tmp_path / "export.csv", rows))
    assert parsed.dropped_columns == PERSONAL_HEADINGS


def test_a_field_without_a_column_never_reads_a_dropped_column(tmp_path: Path) -> None:
    """No Erstatter or Disposition column, personal columns after the kept ones, short rows.

    Each field the file lacks reads blank: not the next cell along (a dropped personal
    value), however long or short the row is.
    """
    rows = with_personal(dwelling_rows(3), {"CPR": "0101011234", "Lejer navn": "0412-0000-099"})
    path = write_csv(tmp_path / "export.csv", rows)
    text = path.read_text(encoding="utf-8-sig").splitlines()
    # The last row cut after its kept cells: a row may end early.
    text[-1] = ";".join(text[-1].split(";")[: len(HEADINGS)])
    path.write_text("\n".join(text) + "\n", encoding="utf-8-sig")
    parsed = read_upload(path)
    (department,) = parsed.upload.departments
    assert [d.erstatter for d in department.dwellings] == [(), (), ()]
    assert {d.disposition.value for d in department.dwellings} == {"renoveres"}  # the default
    assert "0101011234" not in repr(parsed)


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("export.pdf", b"%PDF", "file type must be .csv, .xlsx or .json"),
        ("export.csv", b"", "the file must start with a heading row"),
        ("export.xlsx", b"not a zip", "not a readable XLSX workbook"),
        ("upload.json", b"{not json", "the file must be UTF-8 JSON"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, rule: str) -> None:
    """Files of the wrong type or broken content are refused with the rule."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as excinfo:
        read_upload(path)
    assert [p.rule for p in excinfo.value.problems] == [rule]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    """A heading row without data is refused: an empty upload would withdraw everything."""
    path = write_csv(tmp_path / "export.csv", [], headings=list(export_row()))
    with pytest.raises(InputError) as excinfo:
        read_upload(path)
    assert [p.rule for p in excinfo.value.problems] == ["the file has no data rows"]


def test_progress_reported_on_long_uploads(tmp_path: Path) -> None:
    """Long uploads report progress as (rows done, rows in all), ending at the total."""
    rows = dwelling_rows(
        12_000,
        phases=(
            ("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),
            ("varsling", dt.date(2026, 11, 2), dt.date(2026, 11, 2)),
        ),
    )
    calls: list[tuple[int, int]] = []
    read_upload(
        write_csv(tmp_path / "export.csv", rows), progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(20_000, 24_000), (24_000, 24_000)]
