"""An integrator in its own process, for the concurrency and crash tests.

Run as ``python tests/audit/integrate_worker.py --key PEM --origin O --stop FILE
[--batch N] [--pause S]`` with the database URL in ``BROKER_DATABASE_URL``. It
integrates what writers sequenced, ``N`` entries per transaction (each batch under
one signed checkpoint), pausing ``S`` seconds when nothing was waiting or between
batches, until ``FILE`` exists; then it integrates once more (nothing sequenced is
left behind) and prints one JSON line: the checkpoints it signed and the transient
conflicts it retried. It prints ``integrated N`` after each batch, so a
test can kill it in the middle of its work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from append_worker import load_signer, transient  # run as a script: its directory is on the path
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from audit import ConcurrentAppendError, Signer, integrate
from broker.db import make_engine


def integrate_once(engine: Engine, signer: Signer, batch: int) -> int | None:
    """Integrate up to ``batch`` waiting entries; return the new size (None: nothing waited)."""
    with engine.begin() as connection:
        integrated = integrate(connection, signer, limit=batch)
    if integrated is None:
        return None
    print(f"integrated {integrated.size}", flush=True)  # noqa: T201 - the progress a test reads
    return integrated.size


def main() -> int:
    """Integrate until the stop file appears; print the report as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", type=Path, required=True, help="Ed25519 PKCS#8 PEM, unencrypted")
    parser.add_argument("--origin", required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--pause", type=float, default=0.05)
    args = parser.parse_args()
    signer = load_signer(args.key, args.origin)
    engine = make_engine(os.environ["BROKER_DATABASE_URL"])
    signed = lost = 0
    while True:
        stopping = args.stop.exists()
        try:
            size = integrate_once(engine, signer, args.batch)
        except (ConcurrentAppendError, OperationalError) as error:
            if transient(error) is None:
                raise
            lost += 1
            continue
        if size is not None:
            signed += 1
        elif stopping:
            break
        time.sleep(args.pause)
    engine.dispose()
    print(json.dumps({"checkpoints": signed, "retried": lost}), flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
