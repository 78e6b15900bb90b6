"""Concurrent writers on SQLite and PostgreSQL: separate processes, one log, no gap, no fork.

Each writer is a real OS process (``append_worker.py``) with its own engine; they wait
on a start file so that they contend for the head from the first append. They either
append (sequence, integrate and sign in their own transaction) or only sequence, with
an integrator process (``integrate_worker.py``) running beside them, as ``broker
serve``'s publisher does; that one is also killed in the middle of its work. Run with
``-rP`` to see how long each phase took and how the writers contended.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
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
INTEGRATOR = Path(__file__).with_name("integrate_worker.py")
WORKERS = 4
PER_WORKER = 500
TOTAL = WORKERS * PER_WORKER
CONTENT_EVERY = 3  # as in append_worker.py
READY_TIMEOUT = 60.0
RUN_TIMEOUT = 300.0


def start_workers(
    database: Database, key: Path, barrier: Path, *, sequence_only: bool = False
) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "BROKER_DATABASE_URL": database.url}
    return [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                *("--worker", str(worker), "--count", str(PER_WORKER)),
                *("--key", str(key), "--origin", ORIGIN, "--barrier", str(barrier)),
                *(["--sequence-only"] if sequence_only else []),
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


def start_integrator(
    database: Database, key: Path, stop: Path, *, batch: int = 256, pause: float = 0.05
) -> subprocess.Popen[str]:
    """Start an integrator that runs until ``stop`` exists (``batch`` entries a checkpoint)."""
    return subprocess.Popen(
        [
            sys.executable,
            str(INTEGRATOR),
            *("--key", str(key), "--origin", ORIGIN, "--stop", str(stop)),
            *("--batch", str(batch), "--pause", str(pause)),
        ],
        env={**os.environ, "BROKER_DATABASE_URL": database.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_workers(
    database: Database, key: Path, barrier: Path, *, sequence_only: bool = False
) -> list[dict[str, Any]]:
    """Start the workers, open the barrier once all are ready, and return their reports."""
    processes = start_workers(database, key, barrier, sequence_only=sequence_only)
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


def check_entries(connection: Connection, *, per_append: bool = True) -> list[dict[str, Any]]:
    """Assert seqs 0..TOTAL-1, each worker's entries once, the checkpoints; return them.

    ``per_append``: a checkpoint for every append; else fewer, the last of size TOTAL.
    """
    rows = connection.execute(
        select(log_entries.c.seq, log_entries.c.entry).order_by(log_entries.c.seq)
    ).all()
    assert [row.seq for row in rows] == list(range(TOTAL))
    documents = [json.loads(row.entry) for row in rows]
    assert [document["seq"] for document in documents] == list(range(TOTAL))
    written = Counter((document["actor"], document["counter"]) for document in documents)
    assert set(written) == {(f"worker-{w}", n) for w in range(WORKERS) for n in range(PER_WORKER)}
    assert set(written.values()) == {1}
    sizes = list(
        connection.scalars(select(log_checkpoints.c.size).order_by(log_checkpoints.c.size))
    )
    if per_append:
        assert sizes == list(range(1, TOTAL + 1))
    else:
        assert sizes[-1] == TOTAL
        assert len(sizes) < TOTAL  # batches: one checkpoint over many entries
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
    key, key_file = _key_file(tmp_path)
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


def _key_file(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "log.pem"
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return key, key_file


def _finish(integrator: subprocess.Popen[str], stop: Path) -> dict[str, Any]:
    """Tell the integrator to stop; return its report once it integrated what was left."""
    stop.touch()
    stdout, stderr = integrator.communicate(timeout=RUN_TIMEOUT)
    assert integrator.returncode == 0, f"the integrator failed:\n{stderr}"
    report = json.loads(stdout.splitlines()[-1])
    assert isinstance(report, dict)
    return report


def test_sequencing_writers_beside_an_integrator_leave_every_entry_under_a_checkpoint(
    database: Database, tmp_path: Path
) -> None:
    """4 x 500 entries sequenced while an integrator signs batches: gapless, all signed."""
    key, key_file = _key_file(tmp_path)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    integrator = start_integrator(database, key_file, tmp_path / "stop")
    try:
        began = time.monotonic()
        reports = run_workers(database, key_file, barrier, sequence_only=True)
        sequencing = time.monotonic() - began
        integrated = _finish(integrator, tmp_path / "stop")
    finally:
        if integrator.poll() is None:
            integrator.kill()
            integrator.communicate()
    assert [report["appended"] for report in reports] == [PER_WORKER] * WORKERS
    assert max(report["started"] for report in reports) < min(r["finished"] for r in reports)
    verifiers = [Verifier.of(ORIGIN, key.public_key())]
    with database.engine.connect() as connection:
        assert read_head(connection)[0] == TOTAL
        check_entries(connection, per_append=False)
        verified, _cosignatures, contents = verify_database(connection, ORIGIN, verifiers)
        assert (verified.size, verified.pending) == (TOTAL, 0)
        assert verified.checkpoints == integrated["checkpoints"]
        assert contents == WORKERS * len(range(0, PER_WORKER, CONTENT_EVERY))
        check_receipts(connection, verifiers)
    print(  # noqa: T201 - shown with -rP
        f"{database.backend}: {TOTAL} entries sequenced in {sequencing:.1f} s beside the "
        f"integrator, under {integrated['checkpoints']} checkpoints "
        f"(integrator retried {integrated['retried']})"
    )


def test_an_integrator_killed_mid_work_loses_nothing(database: Database, tmp_path: Path) -> None:
    """SIGKILL between sequencing and integration: the next integrator signs every entry."""
    key, key_file = _key_file(tmp_path)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    reports = run_workers(database, key_file, barrier, sequence_only=True)
    assert sum(report["appended"] for report in reports) == TOTAL
    verifiers = [Verifier.of(ORIGIN, key.public_key())]
    # Small batches, slowly: killed after its third checkpoint, mid-way through the backlog.
    first = start_integrator(database, key_file, tmp_path / "never", batch=100, pause=0.2)
    try:
        assert first.stdout is not None
        progress = [first.stdout.readline() for _ in range(3)]
        assert all(line.startswith("integrated ") for line in progress), first.stderr
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=RUN_TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == -signal.SIGKILL
    with database.engine.connect() as connection:
        cut, _root = read_head(connection)
        verified, _, _ = verify_database(connection, ORIGIN, verifiers)
    assert 300 <= cut < TOTAL  # three batches or a few more, not the whole backlog
    assert (verified.size, verified.pending) == (cut, TOTAL - cut)

    second = start_integrator(database, key_file, tmp_path / "stop")
    _finish(second, tmp_path / "stop")
    with database.engine.connect() as connection:
        assert read_head(connection)[0] == TOTAL
        check_entries(connection, per_append=False)
        verified, _, _ = verify_database(connection, ORIGIN, verifiers)
        assert (verified.size, verified.pending) == (TOTAL, 0)
        check_receipts(connection, verifiers)
