"""`broker keys` and `broker audit`: keys, rotation, verification, review, export and purge."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import run_broker
from databases import Database
from factories import dwelling_rows, write_csv
from sqlalchemy import select, text

from audit import Draft
from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.disclosure import record, rfc3339
from broker.keys import init_keys, load_keys
from broker.renovation import Dwelling

ROOT = Path(__file__).resolve().parents[3]
AT = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
RECIPIENT = "albertslund/visitation"

GDPR = "GDPR Art. 6(1)(f) (housing company); Art. 6(1)(e) (municipality)"
NATIONAL = "Serviceloven §§ 83 og 85"


def released(database: Database, home: Path, count: int = 3) -> list[str]:
    """Ingest a small department, then record `count` releases naming two dwellings each."""
    export = write_csv(home / "export.csv", dwelling_rows(6))
    assert run_broker(database, home, "ingest", str(export), "--org", "bo-vest").returncode == 0
    settings = Settings(home=home)
    init_keys(settings)
    ring = load_keys(settings)
    with session_scope(make_session_factory(database.engine)) as session:
        refs = sorted(session.scalars(select(Dwelling.ref)))
        for n in range(count):
            pair = refs[n : n + 2]
            fields = {
                "time": rfc3339(AT + dt.timedelta(days=n)),
                "event": "release",
                "actor": "broker",
                "recipient": RECIPIENT,
                "policy_id": "albertslund-visitation-weekly",
                "legal_basis_gdpr": GDPR,
                "legal_basis_national": NATIONAL,
                "dwellings": [ring.reference(ref) for ref in pair],
                "fields": ["adresseid", "phase"],
            }
            content = json.dumps({"dwellings": pair}).encode()
            record(session, ring, [Draft(fields, content)], publish=True)  # as a push does
    return refs


def test_keys_init_writes_private_keys_readable_by_owner_only(tmp_path: Path) -> None:
    """Keys are created once, mode 0600; with a passphrase the PEM is encrypted."""
    settings = Settings(home=tmp_path, key_passphrase="correct horse")  # type: ignore[arg-type]  # noqa: S106
    assert init_keys(settings) is True
    assert init_keys(settings) is False  # idempotent
    private = tmp_path / "keys" / "log-0001.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys" / "reference.key").stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes()
    assert load_keys(settings).number == 1


def test_a_wrong_or_missing_passphrase_is_a_clear_configuration_error(
    database: Database, tmp_path: Path
) -> None:
    """An encrypted key without the right passphrase stops the command with exit 2."""
    init_keys(Settings(home=tmp_path, key_passphrase="right"))  # type: ignore[arg-type]  # noqa: S106
    wrong = run_broker(
        database,
        tmp_path,
        "keys",
        "export-public",
        "--out",
        str(tmp_path / "k.pem"),
        env={"BROKER_KEY_PASSPHRASE": "wrong"},
    )
    missing = run_broker(database, tmp_path, "audit", "verify")
    assert wrong.returncode == 2
    assert "wrong BROKER_KEY_PASSPHRASE" in wrong.stderr
    assert missing.returncode == 2
    assert "set BROKER_KEY_PASSPHRASE" in missing.stderr
    assert "right" not in wrong.stderr + missing.stderr


def offline_verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit.verify", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_rotation_export_and_offline_verification(database: Database, tmp_path: Path) -> None:
    """After a rotation old and new keys verify the log, in the database and offline."""
    released(database, tmp_path, count=2)
    rotated = run_broker(database, tmp_path, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "key 2 is current" in rotated.stdout
    released_after = run_broker(database, tmp_path, "audit", "list", "--event", "key-rotated")
    assert released_after.stdout.count("key-rotated") == 1
    verified = run_broker(database, tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified: size 4," in verified.stdout  # 2 releases, 1 rotation, 1 audit-read

    public = tmp_path / "log-public.pem"
    assert (
        run_broker(database, tmp_path, "keys", "export-public", "--out", str(public)).returncode
        == 0
    )
    assert public.read_text().count("BEGIN PUBLIC KEY") == 2
    bundle = tmp_path / "export.jsonl"
    exported = run_broker(database, tmp_path, "audit", "export", "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr
    offline = offline_verify(str(bundle), "--public-key", str(public))
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "verified: size 5," in offline.stdout  # the export's own audit-read is in it

    only_new = tmp_path / "new.pem"
    only_new.write_text(
        "-----BEGIN PUBLIC KEY-----" + public.read_text().split("-----BEGIN PUBLIC KEY-----")[2]
    )
    refused = offline_verify(str(bundle), "--public-key", str(only_new))
    assert refused.returncode == 1
    assert "checkpoint of size 1: no signature by a trusted key" in refused.stdout


def test_dwelling_review_lists_its_disclosures_with_receipts(
    database: Database, tmp_path: Path
) -> None:
    """By id or by address: every entry about the dwelling, each with a receipt that verifies."""
    refs = released(database, tmp_path, count=3)
    receipts = tmp_path / "receipts"
    by_ref = run_broker(
        database, tmp_path, "audit", "dwelling", refs[1], "--receipts", str(receipts)
    )
    assert by_ref.returncode == 0, by_ref.stderr
    assert by_ref.stdout.count(" release ") == 2  # releases 0 and 1 named refs[1]
    assert f"recipient={RECIPIENT}" in by_ref.stdout
    files = sorted(receipts.glob("*.tlog-proof"))
    assert [f.name for f in files] == ["entry-0.tlog-proof", "entry-1.tlog-proof"]

    public = tmp_path / "log-public.pem"
    run_broker(database, tmp_path, "keys", "export-public", "--out", str(public))
    for receipt in files:
        checked = offline_verify("--receipt", str(receipt), "--public-key", str(public))
        assert checked.returncode == 0, checked.stdout + checked.stderr

    with database.engine.connect() as connection:
        row = connection.execute(
            select(Dwelling.vejnavn, Dwelling.husnr, Dwelling.etage, Dwelling.doer).where(
                Dwelling.ref == refs[0]
            )
        ).one()
    address = f"{row.vejnavn.upper()} {row.husnr},  {row.etage}. {row.doer}, 2620 albertslund"
    by_address = run_broker(database, tmp_path, "audit", "dwelling", address)
    assert by_address.returncode == 0, by_address.stderr
    assert f"dwelling {refs[0]}" in by_address.stdout
    assert by_address.stdout.count(" release ") == 1

    unknown = run_broker(database, tmp_path, "audit", "dwelling", "Ingenvej 1, 9999 Intetsted")
    assert unknown.returncode == 1
    assert "Ingenvej" not in unknown.stderr  # the lookup text is not echoed
    reads = run_broker(database, tmp_path, "audit", "list", "--event", "audit-read", "--json")
    # Each review that found its dwelling is itself on record (this listing comes after).
    assert len(reads.stdout.splitlines()) == 2


def test_list_filters_by_event_recipient_and_period(database: Database, tmp_path: Path) -> None:
    """Filters narrow the listing; the count goes to stderr."""
    released(database, tmp_path, count=3)
    day = (AT + dt.timedelta(days=1)).date().isoformat()
    listed = run_broker(
        database,
        tmp_path,
        "audit",
        "list",
        "--event",
        "release",
        "--recipient",
        RECIPIENT,
        "--from",
        day,
        "--to",
        day,
        "--json",
    )
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [e["seq"] for e in entries] == [1]
    assert "1 entries" in listed.stderr
    other = run_broker(database, tmp_path, "audit", "list", "--recipient", "ishoej/visitation")
    assert other.stdout == ""


def test_purge_deletes_contents_but_the_log_still_verifies(
    database: Database, tmp_path: Path
) -> None:
    """Contents before the date go; entries stay; the purge is an entry; verify still passes."""
    released(database, tmp_path, count=3)
    cutoff = (AT + dt.timedelta(days=2)).date().isoformat()
    future = run_broker(database, tmp_path, "audit", "purge", "--before", "2999-01-01")
    assert future.returncode == 1
    purged = run_broker(database, tmp_path, "audit", "purge", "--before", cutoff)
    assert purged.returncode == 0, purged.stderr
    assert "purged 2 stored contents" in purged.stdout
    with database.engine.connect() as connection:
        left = list(connection.scalars(text("SELECT seq FROM log_contents ORDER BY seq")))
    assert left == [2]
    verified = run_broker(database, tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stdout
    assert "1 stored contents" in verified.stdout
    listed = run_broker(database, tmp_path, "audit", "list", "--event", "retention-purge", "--json")
    purge_entry = json.loads(listed.stdout)
    assert (purge_entry["purged"], purge_entry["purged_seqs"]) == (2, ["0-1"])


def test_verify_names_the_first_bad_entry(database: Database, tmp_path: Path) -> None:
    """A content changed behind the database's back fails verification at its entry."""
    released(database, tmp_path, count=3)
    with database.engine.begin() as connection:
        if database.backend == "sqlite":
            connection.execute(text("DROP TRIGGER log_contents_no_update"))
        else:
            connection.execute(text("DROP TRIGGER log_contents_no_change ON log_contents"))
        connection.execute(text("UPDATE log_contents SET content = :c WHERE seq = 1"), {"c": b"{}"})
    result = run_broker(database, tmp_path, "audit", "verify")
    assert result.returncode == 1
    assert "FAILED: entry 1: its stored content does not match its commitment" in result.stdout


@pytest.mark.parametrize("fmt", ["csv"])
def test_csv_export_is_a_table_without_formulas(
    database: Database, tmp_path: Path, fmt: str
) -> None:
    """The spreadsheet export has a header and one row per entry."""
    released(database, tmp_path, count=2)
    out = tmp_path / "log.csv"
    result = run_broker(database, tmp_path, "audit", "export", "--out", str(out), "--format", fmt)
    assert result.returncode == 0, result.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8's byte order mark: Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert list(rows[0])[:5] == ["seq", "time", "event", "actor", "recipient"]
    assert len(rows) == 3  # two releases and the export's own audit-read
    releases = [row for row in rows if row["event"] == "release"]
    assert {row["legal_basis_gdpr"] for row in releases} == {GDPR}
    assert {row["legal_basis_national"] for row in releases} == {NATIONAL}
    assert not any("legal_basis" in row["other"] for row in rows)
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())
