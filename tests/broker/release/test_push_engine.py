"""`broker push` builds one SQLAlchemy engine for the release, its delivery and the witnesses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog
from click.testing import CliRunner  # noqa: TID251 - the CLI edge, run in this process
from engines import CountEngines, counted
from peers import POLICY, RECIPIENT, Site, released_id

from broker.cli import cli

# Slow: a real `broker receiver` process, also the witness (`make test-fast` leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """The command configures structlog onto the runner's stream: put it back after."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)
        structlog.contextvars.clear_contextvars()


@pytest.mark.usefixtures("logging_restored")
def test_push_builds_one_engine(site: Site) -> None:
    """Run in this process through click's runner: one engine, and the push did all its work."""
    with site.receiver(witness=True) as receiver:
        site.webhook = f"{receiver.url}/releases"
        witness = {"url": receiver.url, "key": receiver.witness_key()}
        site.settings["BROKER_WITNESSES"] = json.dumps([witness])
        env = {
            **site.env(),
            "BROKER_HOME": str(site.home),
            "BROKER_DATABASE_URL": counted(site.database.url),
            "BROKER_LOG_FORMAT": "json",
        }
        CountEngines.created.clear()
        pushed = CliRunner().invoke(cli, ["push", POLICY], env=env, catch_exceptions=False)
        assert pushed.exit_code == 0, pushed.output
        release_id = released_id(pushed.output)
        assert f"delivered {release_id} to {RECIPIENT}" in pushed.output
        assert len(CountEngines.created) == 1
        assert "witness.cosigned" in pushed.output  # the witness step ran on it too
        site.assert_delivered_once(receiver, release_id)
