"""Run the real `broker` command in a subprocess against a test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from databases import Database


def run_broker(
    database: Database, home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m broker ARGS` with the test database and JSON logs; never raises."""
    environment = {
        **os.environ,
        "BROKER_HOME": str(home),
        "BROKER_DATABASE_URL": database.url,
        "BROKER_LOG_FORMAT": "json",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
