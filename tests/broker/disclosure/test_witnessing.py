"""A real `broker witness` process cosigns the log, and refuses a log rolled back or rewritten."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import Database
from peers import free_port
from sqlalchemy import text

from audit import (
    Draft,
    StoredTree,
    Witness,
    cosigner_verifier_key,
    make_receipt,
    make_server,
    parse_cosigner_key,
    submit_checkpoint,
    verify_receipt,
)
from broker.config import Settings, WitnessSettings
from broker.db import make_session_factory, session_scope
from broker.disclosure import record, rfc3339, verify
from broker.disclosure.publishing import integrate_pending
from broker.disclosure.witnessing import WitnessClients, witness_latest, witness_states
from broker.keys import init_keys, load_keys

AT = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
WITNESS = "witness.test/w1"


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[Settings]:
    """Broker keys, and a real witness process that trusts their public half."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    public = tmp_path / "log-public.pem"
    public.write_bytes(load_keys(Settings(home=home)).public_pem())
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker",
            "witness",
            "--port",
            str(port),
            "--log-key",
            str(public),
            "--store",
            str(tmp_path / "witness"),
            "--name",
            WITNESS,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BROKER_HOME": str(tmp_path / "witness-home")},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("witness key: "), process.stderr.read() if process.stderr else ""
        key = first.removeprefix("witness key: ").strip()
        _wait_listening(port)
        witness = WitnessSettings(url=f"http://127.0.0.1:{port}", key=key)  # type: ignore[arg-type]
        yield Settings(home=home, witnesses=(witness,))
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _wait_listening(port: int, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("the witness did not start listening")


def append(database: Database, settings: Settings, count: int, actor: str = "broker") -> None:
    ring = load_keys(settings)
    for n in range(count):
        fields = {"time": rfc3339(AT), "event": "release", "actor": f"{actor}-{n}"}
        with session_scope(make_session_factory(database.engine)) as session:
            record(session, ring, [Draft(fields)])
    integrate_pending(database.engine, ring)  # one checkpoint over them, as the publisher signs


def roll_back(database: Database, size: int) -> None:
    """Cut the log back to ``size`` consistently, as restoring an old backup does."""
    with database.engine.begin() as connection:
        root = StoredTree(connection).root(size)
        tables = ("log_entries", "log_nodes", "log_checkpoints", "log_cosignatures")
        indexes = ("log_entry_orgs", "log_entry_facts")  # the broker's, restored with the log
        for table in tables + indexes:
            if database.backend == "sqlite":
                connection.execute(text(f"DROP TRIGGER {table}_no_delete"))
            else:
                connection.execute(text(f"DROP TRIGGER {table}_no_change ON {table}"))
        trigger = "log_sequence_no_rewind"
        connection.execute(
            text(
                f"DROP TRIGGER {trigger}"
                + (" ON log_sequence" if database.backend != "sqlite" else "")
            )
        )
        for table in ("log_entries", *indexes):
            connection.execute(text(f"DELETE FROM {table} WHERE seq >= :n"), {"n": size})  # noqa: S608
        connection.execute(text("DELETE FROM log_checkpoints WHERE size > :n"), {"n": size})
        connection.execute(text("DELETE FROM log_cosignatures WHERE size > :n"), {"n": size})
        connection.execute(
            text("DELETE FROM log_nodes WHERE (idx + 1) * (1 << level) > :n"), {"n": size}
        )
        connection.execute(text("UPDATE log_head SET size = :n, root = :r"), {"n": size, "r": root})
        connection.execute(text("UPDATE log_sequence SET size = :n"), {"n": size})


@pytest.mark.slow
def test_the_witness_cosigns_each_extension(database: Database, witnessed: Settings) -> None:
    """Each new checkpoint is cosigned after a consistency proof; receipts carry the cosignature."""
    append(database, witnessed, 3)
    first = witness_latest(database.engine, witnessed)
    append(database, witnessed, 4)
    second = witness_latest(database.engine, witnessed)
    assert [(o.witness, o.size, o.cosigned) for o in first + second] == [
        (WITNESS, 3, True),
        (WITNESS, 7, True),
    ]
    ring = load_keys(witnessed)
    cosigner = parse_cosigner_key(witnessed.witnesses[0].key)
    with database.engine.connect() as connection:
        result, cosignatures, _contents = verify(connection, ring, witnessed)
        receipt = make_receipt(connection, 5)
    assert (result.size, cosignatures) == (7, 2)
    checked = verify_receipt(receipt, ring.origin, ring.verifiers(), [cosigner], 1)
    assert checked.cosigned_by == (WITNESS,)


@pytest.mark.slow
def test_each_witness_state_is_its_newest_cosignature_and_its_time(
    database: Database, witnessed: Settings
) -> None:
    """Before any cosignature: size 0, no time; after, the newest size and the witness's time."""
    with database.engine.connect() as connection:
        (before,) = witness_states(connection, witnessed)
    assert (before.name, before.cosigned_size, before.cosigned_at) == (WITNESS, 0, None)
    append(database, witnessed, 3)
    asked = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert witness_latest(database.engine, witnessed)[0].cosigned
    with database.engine.connect() as connection:
        (after,) = witness_states(connection, witnessed)
    assert after.cosigned_size == 3
    assert after.cosigned_at is not None
    assert asked - dt.timedelta(seconds=5) <= after.cosigned_at <= asked + dt.timedelta(seconds=5)
    assert after.url == str(witnessed.witnesses[0].url)


@pytest.mark.slow
def test_a_rolled_back_log_is_refused(database: Database, witnessed: Settings) -> None:
    """After a restore from an old backup the witness has seen more than the log holds."""
    append(database, witnessed, 5)
    assert witness_latest(database.engine, witnessed)[0].cosigned
    roll_back(database, 3)
    append(database, witnessed, 1, actor="after-restore")
    (outcome,) = witness_latest(database.engine, witnessed)
    assert not outcome.cosigned
    assert "the witness saw a log of 5 entries, this one has 4" in outcome.problem


@pytest.mark.slow
def test_a_rewritten_history_signed_with_the_real_key_is_refused(
    database: Database, witnessed: Settings
) -> None:
    """A log rebuilt with other entries, properly signed, no longer extends what the witness saw."""
    append(database, witnessed, 5)
    assert witness_latest(database.engine, witnessed)[0].cosigned
    roll_back(database, 2)
    append(database, witnessed, 6, actor="rewritten")
    (outcome,) = witness_latest(database.engine, witnessed)
    assert not outcome.cosigned
    assert "forked or rewritten" in outcome.problem
    with database.engine.connect() as connection:
        result, _cosignatures, _contents = verify(connection, load_keys(witnessed), witnessed)
    assert result.size == 8  # alone, the rewritten log verifies: only the witness can tell


def test_an_unreachable_witness_is_reported_not_fatal(database: Database, tmp_path: Path) -> None:
    """A witness that is down is reported; the log itself is unaffected."""
    settings = Settings(home=tmp_path)
    init_keys(settings)
    key = cosigner_verifier_key("w.test/down", Ed25519PrivateKey.generate().public_key())
    down = WitnessSettings(url=f"http://127.0.0.1:{free_port()}", key=key)  # type: ignore[arg-type]
    settings = Settings(home=tmp_path, witnesses=(down,))
    append(database, settings, 1)
    (outcome,) = witness_latest(database.engine, settings)
    assert not outcome.cosigned
    assert "unreachable" in outcome.problem


@contextlib.contextmanager
def _counted_witness(
    tmp_path: Path, settings: Settings, origins: set[str] | None = None
) -> Iterator[tuple[Settings, list[int]]]:
    """A real witness server on 127.0.0.1 that counts the connections it accepts."""
    ring = load_keys(settings)
    witness = Witness(tmp_path / "counted-witness", WITNESS, ring.public_keys, origins=origins)
    server = make_server(witness)
    accepted = [0]
    accept = server.get_request

    def counting() -> tuple[socket.socket, Any]:
        accepted[0] += 1
        return accept()

    server.get_request = counting  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        witnesses = (WitnessSettings(url=url, key=witness.verifier_key),)  # type: ignore[arg-type]
        yield Settings(home=settings.home, witnesses=witnesses), accepted
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_retry_after_409_reuses_the_connection(database: Database, tmp_path: Path) -> None:
    """The witness knows more than the broker stored: the retry after 409 uses one connection."""
    home = Settings(home=tmp_path / "home")
    init_keys(home)
    with _counted_witness(tmp_path, home) as (settings, accepted):
        append(database, settings, 3)
        with database.engine.connect() as connection:
            size, note = connection.execute(
                text("SELECT size, note FROM log_checkpoints ORDER BY size DESC")
            ).first() or (0, "")
        assert submit_checkpoint(str(settings.witnesses[0].url), 0, [], note).ok  # not stored
        append(database, settings, 2)
        before = accepted[0]
        (outcome,) = witness_latest(database.engine, settings)
        assert (outcome.cosigned, outcome.size, size) == (True, 5, 3)
        assert accepted[0] - before == 1  # old 0 -> 409 (size 3) -> old 3: one connection


def test_one_connection_per_witness_across_calls(database: Database, tmp_path: Path) -> None:
    """A long-lived WitnessClients sends every checkpoint over one kept-alive connection."""
    home = Settings(home=tmp_path / "home")
    init_keys(home)
    with _counted_witness(tmp_path, home) as (settings, accepted), WitnessClients() as clients:
        for round_ in range(3):
            append(database, settings, 1, actor=f"round-{round_}")
            (outcome,) = witness_latest(database.engine, settings, clients=clients)
            assert outcome.cosigned
        assert accepted[0] == 1


def test_an_unknown_origin_is_reported_as_such(database: Database, tmp_path: Path) -> None:
    """A witness configured for other origins answers 404; the broker says what that means."""
    home = Settings(home=tmp_path / "home")
    init_keys(home)
    with _counted_witness(tmp_path, home, origins={"other.example/log"}) as (settings, _):
        append(database, settings, 1)
        (outcome,) = witness_latest(database.engine, settings)
    assert not outcome.cosigned
    assert outcome.problem == "the witness does not know this log's origin"
