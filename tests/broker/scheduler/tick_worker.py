"""A broker replica's scheduler in its own process, for the replica test: ticks at frozen instants.

Run as ``python tests/broker/renovationr/tick_worker.py --worker N --policies P --barrier DIR
--now ISO [--now ISO ...]`` with the database URL in ``BROKER_DATABASE_URL`` (kept off the
command line: it may hold a password). The worker opens its own engine, touches
``DIR/ready-N``, waits for ``DIR/start`` so that every replica ticks at once, then ticks at
each instant in turn for P weekly policies (``0 6 * * 1``). It prints one JSON line: its
identity, the runs it claimed and the runs its release callback was handed. Logs go
to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from sqlalchemy import text

from broker.db import make_engine, make_session_factory
from broker.logging import configure_logging
from broker.policy import Schedule
from broker.scheduler import Scheduler

BARRIER_TIMEOUT = 60.0
WEEKLY = Schedule(cron="0 6 * * 1")


def wait_for_start(barrier: Path, worker: int) -> None:
    """Announce readiness, then wait until the test opens the barrier."""
    (barrier / f"ready-{worker}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while not (barrier / "start").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the start barrier never opened")
        time.sleep(0.001)


def main() -> int:
    """Tick at each instant; print the report as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--policies", type=int, required=True)
    parser.add_argument("--barrier", type=Path, required=True)
    parser.add_argument("--now", type=dt.datetime.fromisoformat, action="append", required=True)
    args = parser.parse_args()
    configure_logging(log_format="json")  # to stderr: stdout carries the report
    schedules = {f"policy-{n:02d}": WEEKLY for n in range(args.policies)}
    ran: list[tuple[str, str]] = []
    engine = make_engine(os.environ["BROKER_DATABASE_URL"])
    with engine.connect() as connection:  # connect (and set SQLite's pragmas) before the start
        connection.execute(text("SELECT 1"))
    scheduler = Scheduler(
        make_session_factory(engine),
        lambda: schedules,
        lambda _session, policy_id, due_at: ran.append((policy_id, due_at.isoformat())),
    )
    wait_for_start(args.barrier, args.worker)
    claimed = [
        (policy_id, due_at.isoformat())
        for now in args.now
        for policy_id, due_at in scheduler.tick(now)
    ]
    engine.dispose()
    report = {"identity": scheduler.identity, "claimed": claimed, "ran": ran}
    print(json.dumps(report), flush=True)  # noqa: T201 - the report is the worker's output
    return 0


if __name__ == "__main__":
    sys.exit(main())
