"""`broker policy check|explain` and `broker objection add|remove` against a real database."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from clirun import run_broker
from databases import Database
from factories import dwelling_rows, write_csv
from sqlalchemy import select

from broker.config import Settings
from broker.keys import init_keys
from broker.renovation import Dwelling

POLICIES = Path(__file__).resolve().parents[3] / "policies"
PHASES = (("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),)


def _load(database: Database, tmp_path: Path, count: int) -> list[str]:
    path = write_csv(tmp_path / "e.csv", dwelling_rows(count, phases=PHASES))
    result = run_broker(database, tmp_path, "ingest", str(path), "--org", "bo-vest")
    assert result.returncode == 0, result.stderr
    with database.engine.connect() as connection:
        return list(connection.scalars(select(Dwelling.ref).order_by(Dwelling.lejemaalsnr)))


def test_check_ok_and_invalid(database: Database, tmp_path: Path) -> None:
    """`policy check` exits 0 on the shipped policies and 1 with file:line: key: rule."""
    ok = run_broker(database, tmp_path, "policy", "check", str(POLICIES))
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.count("ok: ") == 3
    bad = tmp_path / "bad.yaml"
    text = (POLICIES / "albertslund-visitation-weekly.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("min_dwellings: 5", "min_dwellings: 1"), encoding="utf-8")
    result = run_broker(database, tmp_path, "policy", "check", str(bad))
    assert result.returncode == 1
    assert result.stdout == f"{bad}:38: min_dwellings: must be at least 5\n"


def test_explain_and_objections(database: Database, tmp_path: Path) -> None:
    """Explain shows what would be released; an objection leaves a dwelling out, counted only."""
    refs = _load(database, tmp_path, 6)
    init_keys(Settings(home=tmp_path))
    env = {"BROKER_POLICIES_DIR": str(POLICIES)}
    args = ("policy", "explain", "albertslund-visitation-weekly", "--at", "2027-02-22")
    before = run_broker(database, tmp_path, *args, env=env)
    assert before.returncode == 0, before.stderr
    assert "dwellings in scope: 6; left out (objection): 0; would be released: 6" in before.stdout
    assert "  startdato: iso-week" in before.stdout
    assert "  lejemaalsnr: internal: kept for matching uploads, never released" in before.stdout
    assert "genhusning 2027-W09 2027-W26" in before.stdout
    assert "0412-" not in before.stdout  # tenancy numbers never shown

    added = run_broker(database, tmp_path, "objection", "add", refs[0], env=env)
    assert added.stdout == f"objection recorded for {refs[0]}\n"
    after = run_broker(database, tmp_path, *args, env=env)
    assert "dwellings in scope: 6; left out (objection): 1; would be released: 5" in after.stdout
    assert refs[0] not in after.stdout

    run_broker(database, tmp_path, "objection", "add", refs[1], env=env)
    refused = run_broker(database, tmp_path, *args, env=env)
    assert (
        "releases nothing: 4 dwelling(s) would be released; the policy needs at least 5 "
        "(min_dwellings), so nothing is released"
    ) in refused.stdout

    removed = run_broker(database, tmp_path, "objection", "remove", refs[1], env=env)
    assert removed.stdout == f"objection withdrawn for {refs[1]}\n"
    unknown = run_broker(database, tmp_path, "objection", "add", "dw-000000000000", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.endswith("error: no dwelling with that reference\n")
    # Each change is on record, naming the dwelling only by its keyed reference.
    logged = run_broker(database, tmp_path, "audit", "list", "--event", "objection", "--json")
    actions = [json.loads(line)["action"] for line in logged.stdout.splitlines()]
    assert actions == ["added", "added", "withdrawn"]
    assert refs[0] not in logged.stdout


def test_explain_unknown_policy(database: Database, tmp_path: Path) -> None:
    """Explaining a policy that does not exist exits 1 and says so."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    result = run_broker(
        database, tmp_path, "policy", "explain", "nope", env={"BROKER_POLICIES_DIR": str(policies)}
    )
    assert result.returncode == 1
    assert f"error: no valid policy 'nope' in {policies}" in result.stderr


def test_policy_test_runs_cases_and_catches_a_change(database: Database, tmp_path: Path) -> None:
    """`policy test` passes on the shipped cases and names the case when a policy changes."""
    ok = run_broker(database, tmp_path, "policy", "test", str(POLICIES))
    assert ok.returncode == 0, ok.stdout
    assert "ok: albertslund-visitation-weekly: 2 case(s)" in ok.stdout

    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    weekly = policies / "albertslund-visitation-weekly.yaml"
    weekly.write_text(
        weekly.read_text(encoding="utf-8").replace("  slutdato: iso-week", "  slutdato: month"),
        encoding="utf-8",
    )
    changed = run_broker(database, tmp_path, "policy", "test", str(policies))
    assert changed.returncode == 1
    assert (
        f"FAIL: {policies}/albertslund-visitation-weekly.case.yaml: six dwellings rehoused next "
        "week; one objected, others out of scope: dwelling dw-a: expected"
    ) in changed.stdout
    assert '"slutdato": "2027-06"' in changed.stdout


def test_check_requires_cases(database: Database, tmp_path: Path) -> None:
    """A policy without an example case file fails `policy check`."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "albertslund-contact-check.case.yaml").unlink()
    result = run_broker(database, tmp_path, "policy", "check", str(policies))
    assert result.returncode == 1
    assert (
        f"{policies}/albertslund-contact-check.yaml:1: cases: "
        "no example case file albertslund-contact-check.case.yaml"
    ) in result.stdout


def test_policy_diff_command(database: Database, tmp_path: Path) -> None:
    """`policy diff OLD NEW` prints the field changes dwelling by dwelling."""
    refs = _load(database, tmp_path, 6)
    old = POLICIES / "albertslund-visitation-weekly.yaml"
    new = tmp_path / "new.yaml"
    new.write_text(old.read_text(encoding="utf-8").replace("  etage: keep\n", ""), encoding="utf-8")
    result = run_broker(
        database, tmp_path, "policy", "diff", str(old), str(new), "--at", "2027-02-22"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1:4] == [
        "dwellings released: 6 -> 6; in scope: 6 -> 6",
        "fields newly released: none",
        "fields newly withheld: etage",
    ]
    assert f"  {refs[0]}: -etage" in lines


def test_unmigrated_database_is_a_clear_error(tmp_path: Path) -> None:
    """A command on a database without the schema says so instead of a traceback."""
    empty = Database("sqlite", f"sqlite:///{tmp_path / 'empty.db'}", None, tmp_path / "empty.db")
    empty.dispose()
    env = {"BROKER_POLICIES_DIR": str(POLICIES)}
    result = run_broker(
        empty, tmp_path, "policy", "explain", "albertslund-visitation-weekly", env=env
    )
    assert result.returncode == 1
    assert "error: the database refused the operation (OperationalError)" in result.stderr
    assert "Traceback" not in result.stderr
    assert "SELECT" not in result.stderr
