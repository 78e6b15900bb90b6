"""The suite's own machinery under pytest-xdist: ports and databases of one worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from databases import postgres_url, server_url, worker_database
from peers import free_port
from sqlalchemy.engine import make_url

EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def test_free_ports_are_the_workers_own_and_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Successive ports differ, lie in the worker's block and never where bind(0) takes its own."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert all(21500 <= port < 22000 for port in ports)  # gw3's block
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw4")
    assert all(22000 <= free_port() < 22500 for _ in range(5))  # gw4's: no overlap
    if EPHEMERAL.exists():
        assert max(ports) < int(EPHEMERAL.read_text().split()[0])


def test_each_worker_of_each_run_has_its_own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under xdist the URL names the worker's and run's database on the given server."""
    monkeypatch.setenv("BROKER_TEST_POSTGRES_URL", "postgresql+psycopg://u:pw@db.test:5433/base")
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert (worker_database(), postgres_url()) == (None, server_url())
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "0123456789abcdef")
    assert worker_database() == "base_gw2_01234567"
    url = make_url(postgres_url())
    assert (url.host, url.port, url.username, url.password) == ("db.test", 5433, "u", "pw")
    assert url.database == "base_gw2_01234567"
