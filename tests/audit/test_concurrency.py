"""Concurrent writers on SQLite and PostgreSQL: separate processes, one log, no gap, no fork.

Each writer is a real OS process (``append_worker.py``) with its own engine; they wait
on a start file so that they contend for the head from the first append. Run with
``-rP`` to see how long each phase took and how the writers contended.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from databases import Database
from sqlalchemy import Connection, select

from audit import (
    StoredTree,
    Verifier,
    make_receipt,
    read_head,
    verify_database,
    verify_receipt,
)
from audit._storage import log_checkpoints, log_entries

# Slow: worker processes appending at once (`make test-fast` leaves it out).
pytestmark = pytest.mark.slow

ORIGIN = "test.example/disclosure-log"
WORKER = Path(__file__).with_name("append_worker.py")
WORKERS = 4
PER_WORKER = 500
TOTAL = WORKERS * PER_WORKER
CONTENT_EVERY = 3  # as in append_worker.py
READY_TIMEOUT = 60.0
RUN_TIMEOUT = 300.0


def start_workers(database: Database, key: Path, barrier: Path) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "BROKER_DATABASE_URL": database.url}
    return [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                *("--worker", str(worker), "--count", str(PER_WORKER)),
                *("--key", str(key), "--origin", ORIGIN, "--barrier", str(barrier)),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]


def wait_until_ready(processes: list[subprocess.Popen[str]], barrier: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while len(list(barrier.glob("ready-*"))) < len(processes):
        for process in processes:
            if process.poll() is not None:
                _, stderr = process.communicate()
                pytest.fail(f"a worker exited before the start ({process.returncode}):\n{stderr}")
        if time.monotonic() > deadline:
            pytest.fail("the workers did not get ready")
        time.sleep(0.01)


def run_workers(database: Database, key: Path, barrier: Path) -> list[dict[str, Any]]:
    """Start the workers, open the barrier once all are ready, and return their reports."""
    processes = start_workers(database, key, barrier)
    try:
        wait_until_ready(processes, barrier)
        (barrier / "start").touch()
        reports = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
            assert process.returncode == 0, f"a worker failed ({process.returncode}):\n{stderr}"
            reports.append(json.loads(stdout))
        return reports
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def check_entries(connection: Connection) -> list[dict[str, Any]]:
    """Assert seqs 0..TOTAL-1, each worker's entries once, a checkpoint per append; return them."""
    rows = connection.execute(
        select(log_entries.c.seq, log_entries.c.entry).order_by(log_entries.c.seq)
    ).all()
    assert [row.seq for row in rows] == list(range(TOTAL))
    documents = [json.loads(row.entry) for row in rows]
    assert [document["seq"] for document in documents] == list(range(TOTAL))
    written = Counter((document["actor"], document["counter"]) for document in documents)
    assert set(written) == {(f"worker-{w}", n) for w in range(WORKERS) for n in range(PER_WORKER)}
    assert set(written.values()) == {1}
    sizes = connection.scalars(select(log_checkpoints.c.size).order_by(log_checkpoints.c.size))
    assert list(sizes) == list(range(1, TOTAL + 1))
    return documents


def check_receipts(connection: Connection, verifiers: Sequence[Verifier]) -> None:
    """Assert that every entry's receipt verifies against the final checkpoint."""
    size, root = read_head(connection)
    final = connection.scalar(select(log_checkpoints.c.note).where(log_checkpoints.c.size == size))
    rows = connection.execute(
        select(log_entries.c.seq, log_entries.c.entry).order_by(log_entries.c.seq)
    ).all()
    # One shared tree reads every stored node once: seconds, not tens of seconds.
    tree = StoredTree(connection)
    for row in rows:
        receipt = verify_receipt(make_receipt(connection, row.seq, tree=tree), ORIGIN, verifiers)
        assert (receipt.index, receipt.entry) == (row.seq, bytes(row.entry))
        assert (receipt.checkpoint.size, receipt.checkpoint.root, receipt.note) == (
            size,
            root,
            final,
        )


def test_concurrent_writers_leave_one_gapless_log_whose_receipts_all_verify(
    database: Database, tmp_path: Path
) -> None:
    """4 processes x 500 appends: 2,000 entries, seqs 0..1999, each receipt verifies at the end."""
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "log.pem"
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    clock = [time.monotonic()]
    reports = run_workers(database, key_file, barrier)
    clock.append(time.monotonic())
    assert [report["appended"] for report in reports] == [PER_WORKER] * WORKERS
    # The workers really overlapped: each started before any other finished.
    assert max(report["started"] for report in reports) < min(r["finished"] for r in reports)

    verifiers = [Verifier.of(ORIGIN, key.public_key())]
    with database.engine.connect() as connection:
        assert read_head(connection)[0] == TOTAL
        documents = check_entries(connection)
        verified, _cosignatures, contents = verify_database(connection, ORIGIN, verifiers)
        assert (verified.size, verified.checkpoints) == (TOTAL, TOTAL)
        assert contents == WORKERS * len(range(0, PER_WORKER, CONTENT_EVERY))
        clock.append(time.monotonic())
        check_receipts(connection, verifiers)
        clock.append(time.monotonic())

    running, checking, proving = (later - earlier for earlier, later in itertools.pairwise(clock))
    appending = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    retries = sum((Counter(report["retries"]) for report in reports), Counter[str]())
    slowest = max(report["slowest"] for report in reports)
    switches = sum(a["actor"] != b["actor"] for a, b in itertools.pairwise(documents))
    print(  # noqa: T201 - shown with -rP: how long each phase took, how the writers contended
        f"{database.backend}: workers ran {running:.1f} s ({TOTAL} appends in {appending:.1f} s), "
        f"log checked in {checking:.1f} s, receipts in {proving:.1f} s; "
        f"retries {dict(retries)}, slowest append {slowest:.3f} s, "
        f"{switches} changes of writer along the log"
    )
