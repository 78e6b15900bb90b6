"""The `make run` demo (scripts/demo.sh) end to end, short of serving, in a fresh home.

It must succeed on a new database, deliver this week's release to the reference
receiver, verify the log, and leave none of the demo export's personal values
with the municipality, in the broker's database or in any output.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from peers import free_port

# Slow: the demo script end to end (`make test-fast` leaves it out).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PERSONAL = ("Lejer navn", "CPR", "Telefon", "E-mail", "Bemærkning", "Særlige behov")


def _run_demo(home: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BROKER_")},
        "BIN": str(Path(sys.executable).parent),
        "BROKER_HOME": str(home),
        "BROKER_CONFIG": str(home / "absent.toml"),
        "BROKER_LOG_FORMAT": "json",
        "RECEIVER_PORT": str(port),
    }
    bash = shutil.which("bash")
    assert bash is not None, "the demo script needs bash"
    return subprocess.run(
        [bash, str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _personal_values(export: Path) -> set[str]:
    with export.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    values = {row[column].strip() for row in rows for column in PERSONAL if column in row}
    return {value for value in values if len(value) >= 6}


def test_the_demo_delivers_to_the_receiver_and_twice_is_fine(tmp_path: Path) -> None:
    """Two runs in one home: each pushes one release to the receiver; the log verifies."""
    home = tmp_path / "var"
    ports = [free_port(), free_port()]
    first = _run_demo(home, ports[0])
    assert first.returncode == 0, first.stdout + first.stderr
    # The push stands in for this week's scheduled run: `broker serve` will not send it again.
    with sqlite3.connect(home / "broker.db") as db:
        runs = db.execute("SELECT policy_id, claimed_by FROM scheduler_runs").fetchall()
    assert [(policy, by.split(":")[0]) for policy, by in runs] == [
        ("albertslund-visitation-weekly", "push")
    ]
    with sqlite3.connect(home / "broker.db") as db:
        users = db.execute("SELECT id, org, username, role FROM users ORDER BY id").fetchall()
    assert sorted((org, name, role) for _id, org, name, role in users) == [
        ("albertslund", "visitator", "visitator"),
        ("bo-vest", "admin", "admin"),
        ("bo-vest", "koordinator", "coordinator"),
        ("bo-vest", "renovering", "housing"),
        ("bo-vest", "revisor", "auditor"),
    ]
    links = re.findall(r"http://127\.0\.0\.1:8000/adgangskode/[A-Za-z0-9_-]{43}", first.stdout)
    assert len(links) == 5
    assert "then sign in at http://127.0.0.1:8000/log-ind" in first.stdout
    second = _run_demo(home, ports[1])
    assert second.returncode == 0, second.stdout + second.stderr
    assert [_listening(port) for port in ports] == [False, False]  # the receivers stopped
    # The demo users are kept, never made again (without a password yet: a fresh link).
    with sqlite3.connect(home / "broker.db") as db:
        again = db.execute("SELECT id, org, username, role FROM users ORDER BY id").fetchall()
    assert again == users
    fresh = re.findall(r"/adgangskode/[A-Za-z0-9_-]{43}", second.stdout)
    assert len(fresh) == 5
    assert not set(fresh) & {link.removeprefix("http://127.0.0.1:8000") for link in links}

    received = sorted((home / "municipality" / "releases").iterdir())
    receipts = sorted((home / "municipality" / "receipts").iterdir())
    assert len(received) == len(receipts) == 2
    for output in (first.stdout, second.stdout):
        assert "delivered rel-" in output
        assert "verified" in output
        assert "the municipality's receiver holds" in output

    planted = _personal_values(home / "demo-export.csv")
    assert any(value.startswith("DEMO-") for value in planted)  # the export has them
    # The two exports are the demo's input (its fake personal values are there on purpose).
    inputs = {"demo-export.csv", "demo-export-next.csv"}
    kept = [p for p in home.rglob("*") if p.is_file() and p.name not in inputs]
    outputs = first.stdout + first.stderr + second.stdout + second.stderr
    for value in planted:
        assert value not in outputs, "a personal value in the demo's output"
        for path in kept:
            assert value.encode() not in path.read_bytes(), f"a personal value in {path.name}"


def test_the_demo_says_so_when_the_receivers_port_is_taken(tmp_path: Path) -> None:
    """A port already in use stops the demo before the push, naming the way out."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = _run_demo(tmp_path / "var", taken.getsockname()[1])
    assert result.returncode == 1
    assert "set RECEIVER_PORT to another" in result.stderr
    assert "delivered" not in result.stdout
