"""The `broker` command: exit codes 0/1/2, summaries on stdout, problems on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from clirun import run_broker
from databases import Database
from factories import PERSONAL_HEADINGS, dwelling_rows, export_row, with_personal, write_csv
from sqlalchemy import func, select, text

from broker.renovation import Dwelling, Upload


def _dwellings(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Dwelling)).scalar_one()


def test_ingest_accepts_and_names_dropped_columns(database: Database, tmp_path: Path) -> None:
    """A good export exits 0 and the summary names every dropped column."""
    rows = with_personal(dwelling_rows(3), dict.fromkeys(PERSONAL_HEADINGS, "DEMO"))
    result = run_broker(
        database, tmp_path, "ingest", str(write_csv(tmp_path / "e.csv", rows)), "--org", "bo-vest"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "accepted: 6 rows from CSV; 1 department(s): blokland",
        "  dwellings: 3 (3 new, 0 already known, 0 no longer affected); phases: 6",
        (
            "  dropped columns (never stored): Lejer navn, CPR, Telefon, E-mail, Bemærkning, "
            "Særlige behov, Genhusningsadresse"
        ),
    ]
    assert _dwellings(database) == 3
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events] == ["ingest.stored"]
    assert events[0]["run_id"]


def test_ingest_rejects_with_exit_1_and_writes_nothing(database: Database, tmp_path: Path) -> None:
    """A bad row exits 1, lists row, column and rule on stderr, and stores nothing."""
    rows = [export_row(), export_row(Lejemålsnr="0412-0001-002", Dør="Bodil")]
    result = run_broker(
        database, tmp_path, "ingest", str(write_csv(tmp_path / "e.csv", rows)), "--org", "bo-vest"
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        "rejected: upload rejected: 1 problem(s); nothing was changed\n"
        "  row 3, column Dør: must be tv, th, mf or a door number of up to 4 characters\n"
    ) in result.stderr
    assert "Bodil" not in result.stderr
    assert _dwellings(database) == 0


def test_usage_errors_exit_2(database: Database, tmp_path: Path) -> None:
    """A missing file or option is a usage error: exit 2, nothing stored."""
    missing = run_broker(database, tmp_path, "ingest", str(tmp_path / "nope.csv"), "--org", "x1")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    no_org = run_broker(
        database, tmp_path, "ingest", str(write_csv(tmp_path / "e.csv", [export_row()]))
    )
    assert no_org.returncode == 2
    assert "Missing option '--org'" in no_org.stderr
    assert _dwellings(database) == 0


def test_bad_org_rejected(database: Database, tmp_path: Path) -> None:
    """An organisation id outside the rule is refused with exit 1."""
    path = write_csv(tmp_path / "e.csv", [export_row()])
    result = run_broker(database, tmp_path, "ingest", str(path), "--org", "Bo Vest!")
    assert result.returncode == 1
    assert "column --org: must be 2-40 lower-case letters, digits or hyphens" in result.stderr


def test_bad_settings_exit_2(database: Database, tmp_path: Path) -> None:
    """An invalid setting names the setting, exits 2 and does nothing."""
    result = run_broker(database, tmp_path, "db", "upgrade", env={"BROKER_PORT": "http"})
    assert result.returncode == 2
    assert "invalid settings (port)" in result.stderr


def test_db_upgrade_creates_sqlite_in_wal_mode(tmp_path: Path) -> None:
    """`broker db upgrade` creates the SQLite database under BROKER_HOME, in WAL mode."""
    import sqlite3  # noqa: PLC0415

    from databases import Database as Db  # noqa: PLC0415

    home = tmp_path / "home"
    target = Db("sqlite", f"sqlite:///{home / 'broker.db'}", None, home / "broker.db")
    target.dispose()
    result = run_broker(target, home, "db", "upgrade", env={"BROKER_DATABASE_URL": ""})
    assert result.returncode == 0, result.stderr
    connection = sqlite3.connect(home / "broker.db")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    finally:
        connection.close()
    assert {"departments", "dwellings", "phases", "uploads", "alembic_version"} <= tables


def test_demo_data_never_replaces_a_schedule_it_did_not_load(
    database: Database, tmp_path: Path
) -> None:
    """`demo-data --load` loads and reloads the demo, and keeps an organisation's own upload."""
    export = tmp_path / "demo-export.csv"
    first = run_broker(database, tmp_path, "demo-data", "--out", str(export), "--load", "bo-vest")
    assert first.returncode == 0, first.stderr
    assert "dwellings: 306 (306 new" in first.stdout
    again = run_broker(database, tmp_path, "demo-data", "--out", str(export), "--load", "bo-vest")
    assert again.returncode == 0, again.stderr
    assert "dwellings: 306 (0 new, 306 already known" in again.stdout  # its own: reloaded

    own = write_csv(tmp_path / "own.csv", dwelling_rows(3))
    # The organisation's own schedule replaces the demo's 306 dwellings: confirmed.
    ingested = run_broker(
        database, tmp_path, "ingest", str(own), "--org", "bo-vest", "--allow-withdraw", "306"
    )
    assert ingested.returncode == 0, ingested.stderr
    affected = _dwellings(database)
    kept = run_broker(database, tmp_path, "demo-data", "--out", str(export), "--load", "bo-vest")
    assert kept.returncode == 0, kept.stderr
    assert "kept bo-vest's schedule" in kept.stdout
    assert "accepted:" not in kept.stdout
    assert _dwellings(database) == affected  # nothing loaded over the organisation's own upload


def _ingest(database: Database, tmp_path: Path, path: Path, *options: str) -> Any:
    return run_broker(database, tmp_path, "ingest", str(path), "--org", "bo-vest", *options)


def test_a_dry_run_shows_the_changes_and_stores_nothing(database: Database, tmp_path: Path) -> None:
    """--dry-run names each new, changed and withdrawn dwelling by address; nothing changes."""
    assert (
        _ingest(database, tmp_path, write_csv(tmp_path / "a.csv", dwelling_rows(3))).returncode == 0
    )
    rows = dwelling_rows(2) + dwelling_rows(1, first=4)
    rows[1]["Startdato"] = "08-03-2027"
    rows = with_personal(rows, dict.fromkeys(PERSONAL_HEADINGS, "PLANTED-Qzxv"))
    result = _ingest(database, tmp_path, write_csv(tmp_path / "b.csv", rows), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "PLANTED-Qzxv" not in result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        (
            "department blokland: 3 dwellings in the file; 1 new, 1 changed, 1 unchanged,"
            " 1 no longer affected (of 3 affected now)"
        ),
        (
            "  changed: Prøvevej 1, st. tv, 2620 Albertslund"
            " (genhusning 2027-03-01..2027-06-30 -> 2027-03-08..2027-06-30)"
        ),
        "  withdrawn: Prøvevej 1, st. th, 2620 Albertslund",
        (
            "  new: Prøvevej 1, 1. tv, 2620 Albertslund (varsling none -> 2026-11-02..2026-11-02;"
            " genhusning none -> 2027-03-01..2027-06-30)"
        ),
        "would be refused: 1 dwellings no longer affected; confirm with --allow-withdraw 1",
        "dry run: nothing was stored",
    ]
    assert _dwellings(database) == 3
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Upload)).scalar_one() == 1


def test_a_cut_off_export_is_refused_until_the_count_is_confirmed(
    database: Database, tmp_path: Path
) -> None:
    """More than 20 % of a department left out: exit 1 naming the count; --allow-withdraw N."""
    assert (
        _ingest(database, tmp_path, write_csv(tmp_path / "a.csv", dwelling_rows(10))).returncode
        == 0
    )
    cut_off = write_csv(tmp_path / "b.csv", dwelling_rows(2))
    refused = _ingest(database, tmp_path, cut_off)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert (
        "rejected: the upload would mark 8 dwellings as no longer affected; if that is right,"
        " confirm the count 8; nothing was changed\n"
        "  column department blokland: 8 of 10 affected dwellings would be no longer affected"
        " (more than 20%); is the export cut off?\n"
    ) in refused.stderr
    assert _ingest(database, tmp_path, cut_off, "--allow-withdraw", "7").returncode == 1
    accepted = _ingest(database, tmp_path, cut_off, "--allow-withdraw", "8")
    assert accepted.returncode == 0, accepted.stderr
    assert "(0 new, 2 already known, 8 no longer affected)" in accepted.stdout


def test_only_an_organisation_the_agreements_name_is_accepted(
    database: Database, tmp_path: Path
) -> None:
    """A typing error in --org is refused (exit 1), not made a new organisation."""
    path = write_csv(tmp_path / "a.csv", dwelling_rows(2))
    result = run_broker(database, tmp_path, "ingest", str(path), "--org", "bo-vets")
    assert result.returncode == 1
    assert (
        "rejected: unknown organisation; nothing was changed\n"
        "  column --org: not an organisation the broker is configured for (bo-vest)\n"
    ) in result.stderr
    assert _dwellings(database) == 0


def test_one_systematic_error_is_one_line(database: Database, tmp_path: Path) -> None:
    """4,000 rows with the same bad postcode print one grouped line, not 4,000."""
    rows = [
        export_row(Lejemålsnr=f"0412-{n // 1000:04d}-{n % 1000:03d}", Postnr="26x0")
        for n in range(1, 4001)
    ]
    result = _ingest(database, tmp_path, write_csv(tmp_path / "bad.csv", rows))
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 1
    assert problems[0].startswith("  column Postnr: ")
    assert problems[0].endswith("(4,000 rows: 2, 3, 4, 5, 6, ...)")


def test_a_push_to_a_recipient_not_configured_is_refused(
    database: Database, tmp_path: Path
) -> None:
    """No BROKER_RECIPIENTS entry for the policy's recipient: exit 1, nothing on record."""
    path = write_csv(tmp_path / "a.csv", dwelling_rows(6))
    assert _ingest(database, tmp_path, path).returncode == 0
    result = run_broker(
        database, tmp_path, "push", "albertslund-visitation-weekly", env={"BROKER_RECIPIENTS": "[]"}
    )
    assert result.returncode == 1
    assert (
        "error: the policy's recipient albertslund/visitation is not configured"
        " (BROKER_RECIPIENTS); nothing was released\n"
    ) in result.stderr
    assert "released" not in result.stdout
    with database.engine.connect() as connection:
        entries = connection.execute(text("SELECT count(*) FROM log_entries")).scalar_one()
    assert entries == 0


def test_the_version_is_printed() -> None:
    """`broker --version` names the distribution's version, without settings or a database."""
    result = subprocess.run(
        [sys.executable, "-m", "broker", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"broker, version {version('renovation-broker')}\n"
