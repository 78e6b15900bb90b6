"""A log writer in its own process, for the concurrency test: one transaction per entry.

Run as ``python tests/audit/append_worker.py --worker N --count C --key PEM --origin O
--barrier DIR`` with the database URL in ``BROKER_DATABASE_URL`` (kept off the command
line: it may hold a password). The worker opens its own engine, touches ``DIR/ready-N``,
waits for ``DIR/start`` so that every worker begins at once, then appends ``C`` entries
(``--sequence-only``: sequences them, leaving integration to an integrator:
``integrate_worker.py``).
A transient conflict (SQLite still locked after its busy timeout, a PostgreSQL
serialization failure, deadlock or lock timeout, or a moved head) retries that append;
any other error ends the worker with a traceback and a non-zero exit. On success it
prints one JSON line: appended, retries by kind, the slowest append, and when it started
and finished.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from audit import ConcurrentAppendError, Draft, EntryValue, Signer, append, sequence
from broker.db import make_engine

CONTENT_EVERY = 3  # every third entry commits to released bytes
MAX_RETRIES = 50  # per entry; beyond this the conflict is not transient
BARRIER_TIMEOUT = 60.0
# serialization_failure, deadlock_detected, lock_not_available
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def actor(worker: int) -> str:
    """Return the actor named in every entry of ``worker``."""
    return f"worker-{worker}"


def transient(error: Exception) -> str | None:
    """Return the kind of a conflict worth retrying, or None for a real error."""
    if isinstance(error, ConcurrentAppendError):
        return "head-moved"
    if isinstance(error, OperationalError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate in TRANSIENT_SQLSTATES:
            return f"sqlstate-{sqlstate}"
        if "database is locked" in str(error.orig):
            return "sqlite-locked"
    return None


def draft(worker: int, counter: int) -> Draft:
    """Return the ``counter``-th entry of ``worker``, with content on every third."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    released = counter % CONTENT_EVERY == 0
    content = f"released by {actor(worker)} #{counter}".encode() if released else None
    fields: dict[str, EntryValue] = {
        "time": now,
        "event": "release",
        "actor": actor(worker),
        "counter": counter,
    }
    return Draft(fields, content)


def append_one(engine: Engine, entry: Draft, signer: Signer | None, retries: Counter[str]) -> None:
    """Append ``entry`` in its own transaction (only sequence it without ``signer``).

    Transient conflicts are retried.
    """
    for _attempt in range(MAX_RETRIES):
        try:
            with engine.begin() as connection:
                if signer is None:
                    sequence(connection, [entry])
                else:
                    append(connection, [entry], signer)
        except (ConcurrentAppendError, OperationalError) as error:
            kind = transient(error)
            if kind is None:
                raise
            retries[kind] += 1
        else:
            return
    raise RuntimeError(f"gave up after {MAX_RETRIES} transient conflicts on one entry")


def load_signer(path: Path, origin: str) -> Signer:
    """Return the signer of ``origin`` with the unencrypted Ed25519 PEM key at ``path``."""
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("the signing key is not Ed25519")
    return Signer(origin, (key,))


def wait_for_start(barrier: Path, worker: int) -> None:
    """Announce readiness, then wait until the test opens the barrier."""
    (barrier / f"ready-{worker}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while not (barrier / "start").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the start barrier never opened")
        time.sleep(0.001)


def main() -> int:
    """Append the entries; print the report as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--key", type=Path, required=True, help="Ed25519 PKCS#8 PEM, unencrypted")
    parser.add_argument("--origin", required=True)
    parser.add_argument("--barrier", type=Path, required=True)
    parser.add_argument("--sequence-only", action="store_true", help="leave integration out")
    args = parser.parse_args()
    signer = load_signer(args.key, args.origin)
    engine = make_engine(os.environ["BROKER_DATABASE_URL"])
    with engine.connect() as connection:  # connect (and set SQLite's pragmas) before the start
        connection.execute(text("SELECT 1"))
    retries: Counter[str] = Counter()
    slowest = 0.0  # the longest wait for the write lock, with the append itself
    wait_for_start(args.barrier, args.worker)
    started = time.time()
    for counter in range(args.count):
        begun = time.monotonic()
        chosen = None if args.sequence_only else signer
        append_one(engine, draft(args.worker, counter), chosen, retries)
        slowest = max(slowest, time.monotonic() - begun)
    finished = time.time()
    engine.dispose()
    report = {
        "worker": args.worker,
        "appended": args.count,
        "retries": dict(retries),
        "slowest": round(slowest, 3),
        "started": started,
        "finished": finished,
    }
    print(json.dumps(report), flush=True)  # noqa: T201 - the report is the worker's output
    return 0


if __name__ == "__main__":
    sys.exit(main())
