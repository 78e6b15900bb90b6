"""Broker replicas as real OS processes on one database fire each scheduled run once in total.

Each replica is ``tick_worker.py`` with its own engine; they wait on a start file so
that they tick at the same frozen instants together. Run with ``-rP`` to see how the
runs were split between them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from databases import Database
from sqlalchemy import select

from broker.scheduler import SchedulerRun

# Slow: scheduler replicas in their own processes (`make test-fast` leaves it out).
pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("tick_worker.py")
REPLICAS = 2
POLICIES = 20
READY_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0
# Mondays 06:00 Copenhagen time, across the 2027 spring DST change, and a tick between them.
MONDAYS = [
    dt.datetime(2027, 3, 22, 5, tzinfo=dt.UTC),
    dt.datetime(2027, 3, 29, 4, tzinfo=dt.UTC),
    dt.datetime(2027, 4, 5, 4, tzinfo=dt.UTC),
]
TICKS = [MONDAYS[0], MONDAYS[0] + dt.timedelta(minutes=1), MONDAYS[1], MONDAYS[2]]


def run_replicas(database: Database, barrier: Path) -> list[dict[str, Any]]:
    """Start the replicas, open the barrier once all are ready, and return their reports."""
    env = {**os.environ, "BROKER_DATABASE_URL": database.url}
    now_args = [arg for tick in TICKS for arg in ("--now", tick.isoformat())]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                *("--worker", str(worker), "--policies", str(POLICIES)),
                *("--barrier", str(barrier), *now_args),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(REPLICAS)
    ]
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while len(list(barrier.glob("ready-*"))) < REPLICAS:
            for process in processes:
                if process.poll() is not None:
                    _, stderr = process.communicate()
                    pytest.fail(f"a replica exited before the start:\n{stderr}")
            if time.monotonic() > deadline:
                pytest.fail("the replicas did not get ready")
            time.sleep(0.01)
        (barrier / "start").touch()
        reports = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
            assert process.returncode == 0, f"a replica failed ({process.returncode}):\n{stderr}"
            reports.append(json.loads(stdout))
        return reports
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate()  # closes the pipes of every replica, done or killed


def test_replicas_fire_each_run_once_in_total(database: Database, tmp_path: Path) -> None:
    """Two replica processes ticking at the same instants claim and run each run exactly once."""
    reports = run_replicas(database, tmp_path)
    expected = {(f"policy-{n:02d}", due.isoformat()) for n in range(POLICIES) for due in MONDAYS}
    claimed = [tuple(run) for report in reports for run in report["claimed"]]
    ran = [tuple(run) for report in reports for run in report["ran"]]
    assert sorted(claimed) == sorted(expected)
    assert sorted(ran) == sorted(expected)
    assert all(report["claimed"] == report["ran"] for report in reports)
    identities = {report["identity"]: len(report["claimed"]) for report in reports}
    assert len(identities) == REPLICAS
    with database.engine.connect() as connection:
        rows = connection.execute(select(SchedulerRun.__table__)).all()
    assert len(rows) == len(expected)
    assert {row.claimed_by for row in rows} <= set(identities)
    print(f"{database.backend}: runs claimed per replica: {identities}")  # noqa: T201 - for -rP
