"""Privacy: planted personal values never reach the database, a dump, the output or the logs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import run_broker
from databases import Database, postgres_url
from factories import dwelling_rows, export_row, with_personal, write_csv
from sqlalchemy import select
from sqlalchemy.engine import make_url

from broker.config import Settings
from broker.keys import init_keys
from broker.schedule import Dwelling

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
