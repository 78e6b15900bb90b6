"""The real `broker serve`: a long upload stops when its client leaves or the server is stopped."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from clirun import run_broker
from databases import Database
from factories import slow_workbook
from peers import free_port
from sqlalchemy import func, select

from broker.config import Settings
from broker.keys import init_keys
from broker.renovation.models import Upload
from tests.broker.test_serve import POLICIES, _serve_env, _wait_ready

# Slow: each test runs a real `broker serve` process (`make test-fast` leaves them out).
pytestmark = pytest.mark.slow

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Served:
    """A running `broker serve`, its log file and a housing token."""

    url: str
    process: subprocess.Popen[str]
    log: Path
    token: str

    def events(self) -> list[str]:
        """The event names logged so far."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line).get("event", "") for line in lines if line.startswith("{")]

    def post(self, data: bytes, timeout: float) -> httpx.Response:
        """Upload ``data`` as an XLSX file."""
        return httpx.post(
            self.url + "/v1/schedules",
            files={"file": ("export.xlsx", data, XLSX)},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )


@pytest.fixture
def served(database: Database, tmp_path: Path) -> Iterator[Served]:
    """A real `broker serve` on 127.0.0.1 logging JSON lines to a file."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    made = run_broker(database, home, "token", "create", "--role", "housing", "--org", "bo-vest")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w", encoding="utf-8") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "broker", "serve", "--port", str(port)],
            env=_serve_env(database, home, policies),
            stdout=subprocess.DEVNULL,
            stderr=stream,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield Served(url, process, log, token)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)


def _stored_uploads(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Upload)).scalar_one())


def test_upload_stops_when_the_client_leaves(served: Served, database: Database) -> None:
    """A client that gives up mid-upload ends the work on the server within moments."""
    data = slow_workbook()
    with pytest.raises(httpx.ReadTimeout):
        served.post(data, timeout=1.5)
    left = time.monotonic()
    while "ingest.cancelled" not in served.events():
        assert time.monotonic() - left < 8, f"still working; logged {served.events()}"
        time.sleep(0.1)
    assert httpx.get(served.url + "/healthz", timeout=2).status_code == 200
    assert _stored_uploads(database) == 0


def test_sigterm_during_an_upload_ends_the_process(served: Served, database: Database) -> None:
    """SIGTERM while an upload is being read stops it (503, nothing stored) and the process."""
    answers: list[httpx.Response] = []
    data = slow_workbook()
    client = threading.Thread(target=lambda: answers.append(served.post(data, 120)))
    client.start()
    time.sleep(1.5)  # the body is sent; the server is reading the workbook
    assert served.process.poll() is None
    served.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    try:
        served.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("broker serve still running a minute after SIGTERM")
    assert time.monotonic() - signalled < 5
    client.join(timeout=10)
    assert [answer.status_code for answer in answers] == [503]
    assert answers[0].json()["title"] == "upload stopped"
    assert "ingest.cancelled" in served.events()
    assert _stored_uploads(database) == 0
