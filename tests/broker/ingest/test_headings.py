"""Headings and keys may be data: only the catalogue's are shown, any other by its position."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import export_row, upload_document, write_csv, write_json, write_xlsx

from broker.errors import InputError
from broker.ingest import load_mapping, read_upload

# Headings as an export may carry them: a name with a CPR number, an e-mail, a name.
PERSONAL = ("Hansen 3201901234", "someone@example.org", "Bodil Jensen")


def _row(**extra: str) -> dict[str, str]:
    return {**export_row(), **extra}


@pytest.mark.parametrize("writer", [write_csv, write_xlsx])
def test_unknown_headings_reported_by_position(tmp_path: Path, writer: object) -> None:
    """A dropped column is named by the catalogue's heading, else by number and letter only."""
    row = _row(CPR="x", **dict.fromkeys(PERSONAL, "x"), **{"Lejer": "y", "cpr-NR.": "z"})
    path = tmp_path / ("export.csv" if writer is write_csv else "export.xlsx")
    parsed = read_upload(writer(path, [row]))  # type: ignore[operator]
    assert parsed.dropped_columns == (
        "CPR",
        "column 15 (O, unknown heading)",
        "column 16 (P, unknown heading)",
        "column 17 (Q, unknown heading)",
        "Lejer",
        "CPR-nr",
    )
    for heading in PERSONAL:
        assert heading not in repr(parsed)


def test_json_unknown_keys_reported_by_position(tmp_path: Path) -> None:
    """A JSON key the catalogue knows is named by its field; any other by where it is."""
    document = upload_document(2, **dict.fromkeys(PERSONAL, "x"), Lejer="y", cpr="z")
    document["planted@example.org"] = "top"
    parsed = read_upload(write_json(tmp_path / "upload.json", document))
    assert parsed.dropped_columns == (
        "key 10 of departments[0].dwellings[0] (unknown key)",
        "key 11 of departments[0].dwellings[0] (unknown key)",
        "key 12 of departments[0].dwellings[0] (unknown key)",
        "lejer_navn",
        "cpr",
        "key 2 of the document (unknown key)",
    )
    for heading in PERSONAL:
        assert heading not in repr(parsed)


def test_mapped_column_named_by_position_and_field(tmp_path: Path) -> None:
    """A column the mapping file names is shown by number, letter and field, not its heading."""
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(
        f"columns:\n  {PERSONAL[0]}: vejnavn\n  {PERSONAL[2]}: cpr\n", encoding="utf-8"
    )
    row = export_row(Vejnavn="someone@example.org")
    row[PERSONAL[0]] = row.pop("Vejnavn")
    row[PERSONAL[2]] = "x"
    mapping = load_mapping(mapping_path)
    with pytest.raises(InputError) as excinfo:
        read_upload(write_csv(tmp_path / "export.csv", [row]), mapping=mapping)
    rule = "looks like an e-mail address: remove personal data"
    assert [str(p) for p in excinfo.value.problems] == [
        f"row 2, column 13 (M, mapped to vejnavn): {rule}"
    ]
    row[PERSONAL[0]] = "Prøvevej"
    parsed = read_upload(write_csv(tmp_path / "export.csv", [row]), mapping=mapping)
    assert parsed.dropped_columns == ("column 14 (N, mapped to cpr)",)


def test_two_columns_for_one_field_named_without_headings(tmp_path: Path) -> None:
    """A second column carrying a field is named by position when its heading is not known."""
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(f"columns:\n  {PERSONAL[0]}: vejnavn\n", encoding="utf-8")
    rows = [{**export_row(), PERSONAL[0]: "Andenvej"}]
    with pytest.raises(InputError) as excinfo:
        read_upload(write_csv(tmp_path / "export.csv", rows), mapping=load_mapping(mapping_path))
    assert [str(p) for p in excinfo.value.problems] == [
        "column 14 (N, mapped to vejnavn): carries the same field as column Vejnavn"
    ]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            f"columns:\n  Gade: vejnavn\n  {PERSONAL[0]}: {PERSONAL[1]}\n",
            ["column --mapping entry 2: maps to a field the catalogue does not know"],
        ),
        (
            f"columns:\n  Gade: vejnavn\n  {PERSONAL[0]}: 3201901234\n",
            ["column --mapping entry 2: Input should be a valid string"],
        ),
        (
            f"'{PERSONAL[1]}': x\ncolumns:\n  Gade: vejnavn\n",
            ["column --mapping key 1: Extra inputs are not permitted"],
        ),
        (
            f"columns: [{PERSONAL[2]}]\n",
            ["column --mapping columns: Input should be a valid dictionary"],
        ),
        (
            f"columns:\n  Gade: vejnavn\n  {PERSONAL[0]}: [{PERSONAL[1]}]\n",
            ["column --mapping entry 2: Input should be a valid string"],
        ),
    ],
)
def test_mapping_errors_name_the_entry_never_its_text(
    tmp_path: Path, text: str, problems: list[str]
) -> None:
    """A bad mapping file is named by entry position and rule; no heading or value is echoed."""
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        load_mapping(mapping_path)
    shown = [str(p) for p in excinfo.value.problems]
    assert shown == problems
    for value in (*PERSONAL, "3201901234"):
        assert value not in str(excinfo.value) + json.dumps(shown)
