"""Privacy: planted personal values never reach the database, a dump, the output or the logs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import run_broker
from databases import Database, postgres_url
from factories import (
    dwelling_rows,
    export_row,
    upload_document,
    with_personal,
    write_csv,
    write_json,
    write_xlsx,
)
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.engine import make_url

from broker.config import Settings
from broker.keys import init_keys
from broker.renovation import Dwelling

# Distinctive fake values, one per personal column; none is a real person's.
PLANTED = {
    "Lejer navn": "PLANTED-Navn-Qzxv",
    "CPR": "991399-4711",
    "Telefon": "+45 00 11 22 33",
    "E-mail": "planted.qzxv@example.org",
    "Bemærkning": "PLANTED-note-Wkrp",
    "Særlige behov": "PLANTED-behov-Yjlm",
    "Genhusningsadresse": "PLANTED-Genhusvej 77, 2620 Albertslund",
}
# Personal values where an export puts no value: as column headings, JSON keys, the
# sheet's name and a mapping file's entries.
PLANTED_HEADINGS = ("Bodil Qzxvsen 3201901234", "planted.heading@example.org", "Jens Wkrpsen")
# What must never appear of them, whole or in part (a half-redacted log keeps the name).
HEADING_NEEDLES = ("Qzxvsen", "3201901234", "planted.heading", "Wkrpsen")
# A kept value, to prove the scan sees what is stored.
KEPT_STREET = "Kontrolvej"


def _stored_bytes(database: Database) -> bytes:
    if database.backend == "sqlite":
        assert database.path is not None
        files = sorted(database.path.parent.glob(database.path.name + "*"))
        assert files, "no database file"
        return b"".join(path.read_bytes() for path in files)
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is needed to dump the PostgreSQL schema"
    url = make_url(postgres_url())
    command = [
        pg_dump,
        "--data-only",
        "--schema",
        str(database.schema),
        "--host",
        url.host or "127.0.0.1",
        "--port",
        str(url.port or 5432),
        "--username",
        url.username or "postgres",
        url.database or "test",
    ]
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    return subprocess.run(command, capture_output=True, check=True, env=env, timeout=60).stdout


def _assert_absent(haystack: bytes, where: str) -> None:
    for heading, value in PLANTED.items():
        for needle in {value, value.replace(" ", ""), value.lower()}:
            assert needle.encode() not in haystack, f"{heading} value found in {where}"
    for needle in HEADING_NEEDLES:
        for variant in {needle, needle.lower()}:
            assert variant.encode() not in haystack, f"a planted heading found in {where}"


def personal_heading_rows(count: int = 6) -> list[dict[str, str]]:
    """Rows with the planted personal columns and the planted headings (holding values too)."""
    rows = [{**row, "Vejnavn": KEPT_STREET} for row in dwelling_rows(count)]
    return with_personal(with_personal(rows, PLANTED), dict.fromkeys(PLANTED_HEADINGS, "x"))


# How ingest names those columns: the catalogue's headings, the others by position.
DROPPED = [
    *PLANTED,
    "column 21 (U, unknown heading)",
    "column 22 (V, unknown heading)",
    "column 23 (W, unknown heading)",
]


def test_planted_headings_keys_sheet_names_and_mappings_never_shown(
    database: Database, tmp_path: Path
) -> None:
    """Personal text as headings, keys, a sheet name or mapping entries is never printed or kept."""
    rows = personal_heading_rows()
    csv_path = write_csv(tmp_path / "export.csv", rows)
    xlsx_path = write_xlsx(tmp_path / "export.xlsx", list(rows), sheet_title=PLANTED_HEADINGS[0])
    keyed = upload_document(3, **dict.fromkeys(PLANTED_HEADINGS, "x"))
    keyed[PLANTED_HEADINGS[1]] = "x"
    json_path = write_json(tmp_path / "upload.json", keyed)
    # A mapping names the export's street column by a planted heading, another by a CPR one.
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        f"columns:\n  {PLANTED_HEADINGS[2]}: vejnavn\n  {PLANTED_HEADINGS[0]}: cpr\n",
        encoding="utf-8",
    )
    mapped_rows = [
        {
            **{k: v for k, v in row.items() if k != "Vejnavn"},
            PLANTED_HEADINGS[2]: street,
            PLANTED_HEADINGS[0]: PLANTED["CPR"],
        }
        for row, street in (
            (export_row(), KEPT_STREET),
            (export_row(Lejemålsnr="0412-0001-002", Etage="2"), PLANTED["E-mail"]),
        )
    ]
    mapped_bad = write_csv(tmp_path / "mapped-bad.csv", mapped_rows)
    mapped_good = write_csv(tmp_path / "mapped.csv", [mapped_rows[0]])
    bad_mapping = tmp_path / "bad-mapping.yaml"
    bad_mapping.write_text(
        f"columns:\n  {PLANTED_HEADINGS[0]}: {PLANTED_HEADINGS[1]}\n"
        f"  {PLANTED_HEADINGS[2]}: [{PLANTED_HEADINGS[1]}]\n",
        encoding="utf-8",
    )
    for path in (csv_path, json_path, mapping, bad_mapping):
        assert b"3201901234" in path.read_bytes()  # the input really holds them
    assert load_workbook(xlsx_path, read_only=True).sheetnames == [PLANTED_HEADINGS[0]]

    # Each upload replaces the one before: the withdrawal guard is not what is tested here.
    ingest = ("ingest", "--org", "bo-vest", "--allow-withdraw", "1000")
    results = [
        run_broker(database, tmp_path, *ingest, str(csv_path)),
        run_broker(database, tmp_path, *ingest, str(xlsx_path)),
        run_broker(database, tmp_path, *ingest, str(json_path)),
        run_broker(database, tmp_path, *ingest, str(mapped_bad), "--mapping", str(mapping)),
        run_broker(database, tmp_path, *ingest, str(mapped_good), "--mapping", str(mapping)),
        run_broker(database, tmp_path, *ingest, str(csv_path), "--mapping", str(bad_mapping)),
    ]
    assert [r.returncode for r in results] == [0, 0, 0, 1, 0, 1], [r.stderr for r in results]
    dropped = "  dropped columns (never stored): "
    assert f"{dropped}{', '.join(DROPPED)}\n" in results[0].stdout
    assert f"{dropped}{', '.join(DROPPED)}\n" in results[1].stdout
    unknown_keys = [f"key {n} of departments[0].dwellings[0] (unknown key)" for n in (10, 11, 12)]
    assert f"{dropped}{', '.join(unknown_keys)}\n" in results[2].stdout
    assert "row 3, column 13 (M, mapped to vejnavn): looks like an e-mail" in results[3].stderr
    assert f"{dropped}column 14 (N, mapped to cpr)\n" in results[4].stdout
    assert "  column --mapping entry 2: Input should be a valid string\n" in results[5].stderr
    for result in results:
        where = f"broker {' '.join(result.args[3:])}"
        _assert_absent((result.stdout + result.stderr).encode(), where)
    database.dispose()
    stored = _stored_bytes(database)
    assert KEPT_STREET.encode() in stored  # the scan does see stored data
    _assert_absent(stored, f"the {database.backend} database")


def test_planted_values_never_stored_or_logged(database: Database, tmp_path: Path) -> None:
    """An accepted export's personal columns leave no trace in storage, output or logs."""
    rows = with_personal([{**row, "Vejnavn": KEPT_STREET} for row in dwelling_rows(6)], PLANTED)
    export = write_csv(tmp_path / "export.csv", rows)
    assert PLANTED["CPR"].encode() in export.read_bytes()  # the input really holds them

    result = run_broker(database, tmp_path, "ingest", str(export), "--org", "bo-vest")
    assert result.returncode == 0, result.stderr
    database.dispose()

    stored = _stored_bytes(database)
    assert KEPT_STREET.encode() in stored  # the scan does see stored data
    _assert_absent(stored, f"the {database.backend} database")
    _assert_absent(result.stdout.encode(), "stdout")
    _assert_absent(result.stderr.encode(), "the log lines")


@pytest.mark.parametrize("column", ["Vejnavn", "By", "Husnr", "Dør", "Fase"])
def test_personal_value_in_kept_column_never_echoed(
    database: Database, tmp_path: Path, column: str
) -> None:
    """A personal value typed into a kept column is rejected without being echoed or stored."""
    rows = [
        export_row(**{column: PLANTED["E-mail"]}),
        export_row(**{"Lejemålsnr": "2", column: PLANTED["CPR"]}),
    ]
    export = write_csv(tmp_path / "export.csv", rows)
    result = run_broker(database, tmp_path, "ingest", str(export), "--org", "bo-vest")
    assert result.returncode == 1
    assert f"row 2, column {column}: looks like an e-mail address" in result.stderr
    database.dispose()
    _assert_absent(_stored_bytes(database), f"the {database.backend} database")
    _assert_absent((result.stdout + result.stderr).encode(), "the output and logs")


POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_policy_explain_and_diff_output_never_holds_planted_values(
    database: Database, tmp_path: Path
) -> None:
    """What explain and diff print about an ingested export holds none of its personal values."""
    rows = with_personal(dwelling_rows(8), PLANTED)
    export = write_csv(tmp_path / "export.csv", rows)
    assert run_broker(database, tmp_path, "ingest", str(export), "--org", "bo-vest").returncode == 0
    env = {"BROKER_POLICIES_DIR": str(POLICIES)}
    weekly = POLICIES / "albertslund-visitation-weekly.yaml"
    explain = run_broker(
        database,
        tmp_path,
        "policy",
        "explain",
        weekly.stem,
        "--at",
        "2027-02-22",
        "--list",
        env=env,
    )
    diff = run_broker(
        database,
        tmp_path,
        "policy",
        "diff",
        str(weekly),
        str(weekly),
        "--at",
        "2027-02-22",
        env=env,
    )
    assert explain.returncode == 0, explain.stderr
    assert "Prøvevej" in explain.stdout  # the scan sees what is printed
    _assert_absent((explain.stdout + explain.stderr).encode(), "policy explain")
    _assert_absent((diff.stdout + diff.stderr).encode(), "policy diff")


def test_policy_errors_never_echo_values(database: Database, tmp_path: Path) -> None:
    """A personal value typed into a policy file is named by key and rule, never repeated."""
    text = (POLICIES / "albertslund-visitation-weekly.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text.replace("discloser: bo-vest", f"discloser: {PLANTED['E-mail']}")
        .replace("version: 1", f"version: {PLANTED['CPR']}")
        .replace("  departments: [blokland]", f"  departments: ['{PLANTED['Lejer navn']}!']"),
        encoding="utf-8",
    )
    result = run_broker(database, tmp_path, "policy", "check", str(bad))
    assert result.returncode == 1
    assert f"{bad}:8: discloser: String should match pattern" in result.stdout
    assert "Tuple should have at least 1 item" not in result.stdout
    _assert_absent((result.stdout + result.stderr).encode(), "policy check output")


def test_disclosure_log_paths_never_hold_planted_values(database: Database, tmp_path: Path) -> None:
    """Log entries, exports, receipts, reviews and their output hold none of the personal values."""
    rows = with_personal([{**row, "Vejnavn": KEPT_STREET} for row in dwelling_rows(6)], PLANTED)
    export = write_csv(tmp_path / "export.csv", rows)
    assert run_broker(database, tmp_path, "ingest", str(export), "--org", "bo-vest").returncode == 0
    init_keys(Settings(home=tmp_path))
    with database.engine.connect() as connection:
        ref = connection.execute(select(Dwelling.ref).limit(1)).scalar_one()
    outputs = [
        run_broker(database, tmp_path, "objection", "add", ref),
        run_broker(database, tmp_path, "audit", "dwelling", ref, "--receipts", str(tmp_path / "r")),
        run_broker(database, tmp_path, "audit", "dwelling", PLANTED["CPR"]),
        run_broker(database, tmp_path, "audit", "dwelling", PLANTED["Genhusningsadresse"]),
        run_broker(database, tmp_path, "audit", "list", "--json"),
        run_broker(database, tmp_path, "audit", "export", "--out", str(tmp_path / "log.jsonl")),
        run_broker(
            database,
            tmp_path,
            "audit",
            "export",
            "--out",
            str(tmp_path / "log.csv"),
            "--format",
            "csv",
        ),
        run_broker(database, tmp_path, "keys", "rotate"),
        run_broker(database, tmp_path, "audit", "purge"),
        run_broker(database, tmp_path, "audit", "verify"),
    ]
    assert outputs[-1].returncode == 0, outputs[-1].stdout
    assert "dwellings=1" in outputs[1].stdout  # the review did find the objection entry
    for result in outputs:
        _assert_absent((result.stdout + result.stderr).encode(), f"broker {result.args[3:5]}")
    written = [tmp_path / "log.jsonl", tmp_path / "log.csv", *sorted((tmp_path / "r").iterdir())]
    assert written[2].name.endswith(".tlog-proof")
    for path in written:
        _assert_absent(path.read_bytes(), path.name)
    database.dispose()
    _assert_absent(_stored_bytes(database), f"the {database.backend} database")
