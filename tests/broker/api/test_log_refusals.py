"""The disclosure log's refusals reach each edge through the one error tree.

A writer that lost the race for the log head (one that publishes in its own
transaction: an export, which must hold its own read under a checkpoint), and a
session that tried to change the append-only log, answer as problem+json (409)
in the API and as exit code 1 with a message (no traceback) in the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from databases import Database
from sqlalchemy import Engine, delete, event

from audit._storage import log_entries
from broker.access import Role
from broker.api._problems import problem_for
from broker.cli._common import EXIT_REJECTED, exit_code, report
from broker.db import make_session_factory
from broker.errors import AuditError, LogMutationError
from tests.broker.api.conftest import World

PROBLEM = "application/problem+json"
CPR = "3201901234"

# Run in the CLI's own process: just before the append's compare-and-swap of the
# head, another writer advances it (the database sees exactly what a racing
# writer leaves), then the real command runs.
_RACE = """
import sys
from sqlalchemy import Engine, event

moved = []

def another_writer(conn, cursor, statement, parameters, context, executemany):
    if statement.startswith("UPDATE log_head") and not moved:
        moved.append(True)
        cursor.execute("UPDATE log_head SET size = size + 1 WHERE id = 1")

event.listen(Engine, "before_cursor_execute", another_writer)
from broker.cli import main
sys.argv[0] = "broker"
main()
"""


@contextmanager
def another_writer_first(engine: Engine) -> Iterator[list[bool]]:
    """Advance the log head, once, just before an append's compare-and-swap on ``engine``."""
    moved: list[bool] = []

    def advance(_conn: Any, cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("UPDATE log_head") and not moved:
            moved.append(True)
            cursor.execute("UPDATE log_head SET size = size + 1 WHERE id = 1")

    event.listen(engine, "before_cursor_execute", advance)
    try:
        yield moved
    finally:
        event.remove(engine, "before_cursor_execute", advance)


@pytest.mark.anyio
async def test_a_lost_race_for_the_log_head_answers_409(world: World, database: Database) -> None:
    """An export whose publication loses the race for the head: 409 problem+json, no 500."""
    async with world.client() as client:
        with another_writer_first(database.engine) as moved:
            answer = await client.get("/v1/log/export", headers=world.auth(Role.AUDITOR))
        assert moved
        assert (answer.status_code, answer.headers["content-type"]) == (409, PROBLEM)
        assert "another writer" in answer.json()["detail"]
        again = await client.get("/v1/log/export", headers=world.auth(Role.AUDITOR))
    assert again.status_code == 200  # nothing was changed; a retry succeeds


@pytest.mark.anyio
async def test_every_v1_route_documents_the_409(world: World) -> None:
    """The OpenAPI document lists the log's 409 for every /v1 operation."""
    async with world.client() as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    for path, item in paths.items():
        if not path.startswith("/v1"):
            continue
        for method, operation in item.items():
            documented = operation["responses"].get("409", {})
            assert PROBLEM in documented.get("content", {}), (method, path)


def test_a_lost_race_in_the_cli_exits_1_with_a_message(database: Database, tmp_path: Path) -> None:
    """`broker audit export` whose publication loses the race: exit 1, a message, no traceback."""
    from broker.config import Settings  # noqa: PLC0415
    from broker.keys import init_keys  # noqa: PLC0415

    init_keys(Settings(home=tmp_path))
    environment = {
        **os.environ,
        "BROKER_HOME": str(tmp_path),
        "BROKER_DATABASE_URL": database.url,
        "BROKER_LOG_FORMAT": "json",
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "broker", "demo-data", "--out", str(tmp_path / "demo.csv")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    ingest = [sys.executable, "-m", "broker", "ingest", str(tmp_path / "demo.csv")]
    loaded = subprocess.run(
        [*ingest, "--org", "bo-vest"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    raced = subprocess.run(
        [sys.executable, "-c", _RACE, "audit", "export", "--out", str(tmp_path / "log.jsonl")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert raced.returncode == EXIT_REJECTED, raced.stderr
    assert "Traceback" not in raced.stderr
    assert "error: another writer appended to the disclosure log first" in raced.stderr


def test_a_refused_log_mutation_maps_at_both_edges(database: Database) -> None:
    """The session guard's refusal is an AuditError: 409 problem+json, exit 1 with a message."""
    factory = make_session_factory(database.engine)
    with factory() as session, pytest.raises(LogMutationError) as refused:
        session.execute(delete(log_entries).where(log_entries.c.seq == int(CPR)))
    assert isinstance(refused.value, AuditError)
    answer = problem_for(refused.value)
    assert (answer.status_code, answer.media_type) == (409, PROBLEM)
    assert CPR not in bytes(answer.body).decode()
    assert exit_code(refused.value) == EXIT_REJECTED


def test_the_cli_renders_a_log_refusal_without_a_value(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's one mapping prints the refusal's rule, never a value, and returns 1."""
    factory = make_session_factory(database.engine)
    with factory() as session, pytest.raises(LogMutationError) as refused:
        session.execute(delete(log_entries).where(log_entries.c.seq == int(CPR)))
    assert report(refused.value) == EXIT_REJECTED
    printed = capsys.readouterr().err
    assert "error: the disclosure log is append-only: log_entries cannot be changed" in printed
    assert CPR not in printed
