"""The real `broker serve` process: policies load at start and reload on `broker policy reload`."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clirun import run_broker
from databases import Database
from peers import free_port
from sqlalchemy import select

from audit import Draft, read_head
from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.disclosure import record, rfc3339, verify
from broker.keys import init_keys, load_keys
from broker.policy.models import PolicyVersion

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def _wait_ready(url: str, process: subprocess.Popen[str], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            pytest.fail(f"broker serve exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("broker serve did not start")


def _ready_until(url: str, predicate: Any, deadline: float = 10.0) -> dict[str, Any]:
    end = time.monotonic() + deadline
    body: dict[str, Any] = {}
    while time.monotonic() < end:
        body = httpx.get(url + "/readyz", timeout=2).json()
        if predicate(body):
            return body
        time.sleep(0.1)
    pytest.fail(f"readyz never matched; last: {body}")


def _serve_env(database: Database, home: Path, policies: Path, **extra: str) -> dict[str, str]:
    """The environment of a `broker serve` on ``database`` with ``home`` and ``policies``."""
    return {
        **os.environ,
        "BROKER_HOME": str(home),
        "BROKER_DATABASE_URL": database.url,
        "BROKER_POLICIES_DIR": str(policies),
        "BROKER_LOG_FORMAT": "json",
        **extra,
    }


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A real `broker serve` on 127.0.0.1 with its own copy of the policies."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    port = free_port()
    env = _serve_env(database, home, policies)
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield url, policies, {k: env[k] for k in ("BROKER_HOME", "BROKER_POLICIES_DIR")}
    finally:
        process.terminate()
        process.wait(timeout=20)
        assert process.stderr is not None
        process.stderr.close()
    assert not (home / "broker.pid").exists()


@pytest.mark.slow
def test_reload_keeps_old_set_on_invalid_file(
    server: tuple[str, Path, dict[str, str]], database: Database, tmp_path: Path
) -> None:
    """An invalid file on reload keeps the old set; a valid change is taken in."""
    url, policies, env = server
    assert _ready_until(url, lambda b: b.get("policies") == 3)["policy_reload"] == "ok"

    weekly = (POLICIES / "albertslund-visitation-weekly.yaml").read_text(encoding="utf-8")
    (policies / "bad.yaml").write_text(weekly.replace("min_dwellings: 5", "min_dwellings: 1"))
    rejected = run_broker(database, tmp_path, "policy", "reload", env=env)
    assert rejected.returncode == 1
    assert "the running broker keeps its current policies" in rejected.stdout
    body = _ready_until(url, lambda b: b["policy_reload"] == "rejected")
    assert body["policies"] == 3

    (policies / "bad.yaml").unlink()
    new = policies / "ishoej-visitation-weekly.yaml"
    new.write_text(
        weekly.replace("albertslund-visitation-weekly", "ishoej-visitation-weekly").replace(
            "albertslund/visitation", "ishoej/visitation"
        )
    )
    cases = (POLICIES / "albertslund-visitation-weekly.case.yaml").read_text(encoding="utf-8")
    new.with_name("ishoej-visitation-weekly.case.yaml").write_text(
        cases.replace("policy: albertslund-visitation-weekly", "policy: ishoej-visitation-weekly")
    )
    accepted = run_broker(database, tmp_path, "policy", "reload", env=env)
    assert accepted.returncode == 0, accepted.stdout
    assert "reload signalled to broker" in accepted.stdout
    assert _ready_until(url, lambda b: b["policies"] == 4)["policy_reload"] == "ok"
    verified = run_broker(database, tmp_path, "audit", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified: size 4," in verified.stdout  # one policy-registered entry per version
    listed = run_broker(
        database, tmp_path, "audit", "list", "--event", "policy-registered", env=env
    )
    assert "policy_id=ishoej-visitation-weekly" in listed.stdout
    with database.engine.connect() as connection:
        stored = set(connection.scalars(select(PolicyVersion.policy_id)))
    assert stored == {
        "albertslund-visitation-weekly",
        "albertslund-contact-check",
        "albertslund-contact-check-reply",
        "ishoej-visitation-weekly",
    }


def test_reload_without_server(database: Database, tmp_path: Path) -> None:
    """Without a running broker, reload only checks the files and says so."""
    env = {"BROKER_POLICIES_DIR": str(POLICIES), "BROKER_HOME": str(tmp_path)}
    result = run_broker(database, tmp_path, "policy", "reload", env=env)
    assert result.returncode == 0
    assert "no running broker" in result.stdout


@pytest.mark.slow
def test_a_burst_over_the_concurrency_limit_waits_its_turn(
    database: Database, tmp_path: Path
) -> None:
    """Far more concurrent requests than the server lets in: all answered, none stalls or fails."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    port = free_port()
    env = _serve_env(
        database,
        home,
        POLICIES,
        BROKER_SCHEDULER="false",
        BROKER_API_MAX_CONCURRENCY="6",
        BROKER_API_RATE_PER_MINUTE="100000",
    )
    created = run_broker(database, home, "token", "create", "--role", "auditor", "--org", "bo-vest")
    secret = created.stdout.splitlines()[-1]
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)  # type: ignore[arg-type]

        async def burst() -> list[int]:
            headers = {"Authorization": f"Bearer {secret}"}
            clients = [httpx.AsyncClient(timeout=30, headers=headers) for _ in range(60)]
            try:
                answers = await asyncio.gather(
                    *(c.get(f"{url}/v1/log/entries?limit=5") for c in clients)
                )
            finally:
                await asyncio.gather(*(c.aclose() for c in clients))
            return [a.status_code for a in answers]

        statuses = asyncio.run(burst())
    finally:
        process.terminate()
        process.wait(timeout=20)
    # A deadlock or a stall holds a request past its client's 30 s timeout, which raises
    # out of the burst: every request answered 200 within it is the test. (A wall-clock
    # bound tighter than that measured the machine's load, not the server.)
    assert statuses == [200] * 60


@pytest.mark.slow
def test_the_server_publishes_what_any_writer_sequenced(
    server: tuple[str, Path, dict[str, str]], database: Database
) -> None:
    """An entry sequenced by another process is under the server's checkpoint within seconds."""
    _url, _policies, env = server
    ring = load_keys(Settings(home=Path(env["BROKER_HOME"])))
    fields = {"time": rfc3339(dt.datetime.now(dt.UTC)), "event": "release", "actor": "other"}
    with session_scope(make_session_factory(database.engine)) as session:
        seq = record(session, ring, [Draft(fields)]).first_seq
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with database.engine.connect() as connection:
            if read_head(connection)[0] > seq:
                break
        time.sleep(0.1)
    with database.engine.connect() as connection:
        result, _, _ = verify(connection, ring, Settings(home=Path(env["BROKER_HOME"])))
    assert result.size > seq
    assert result.pending == 0
