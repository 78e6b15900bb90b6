"""The reference receiver applies a policy's releases in order to the set it holds, or refuses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from databases import Database
from peers import POLICY

from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.delivery import content_digest, sign_request
from broker.delivery.service import key_id
from broker.keys import KeyRing, init_keys, load_keys
from broker.release import Release, release_body
from tests.broker.release.test_changes import World, world

NOW = dt.timedelta(0)
SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    init_keys(Settings(home=tmp_path / "keys"))
    return load_keys(Settings(home=tmp_path / "keys"))


def _answers(state: World) -> list[tuple[int | None, str]]:
    """Return what the receiver answered each delivery: status and error rule (or "")."""
    state.proxy.statuses()
    return [
        (e.upstream, json.loads(e.reply).get("error", "") if e.reply else "")
        for e in state.proxy.exchanges
    ]


@SQLITE_ONLY
def test_a_delta_on_a_set_the_receiver_lost_is_refused_and_a_resync_follows(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A receiver that lost its set refuses the delta (409 base); the next release replaces it."""
    with world(database, ring, tmp_path) as state:
        state.do(("upload", (0, 0, 0, 0, 0, 0, None, None)))
        state.do(("release",))
        state.do(("deliver", "delivered"))
        (state.receiver_store / "current" / f"{POLICY}.json").unlink()
        state.do(("upload", (None, 1, 0, 0, 0, 0, 0, None)))
        state.do(("release",))
        state.deliver("delivered", attempts=1)  # the receiver answers; the broker gives up
        first, delta = (row.id for row in state.outbox())
        assert _answers(state) == [(201, ""), (409, "base")]
        detail = json.loads(state.proxy.exchanges[1].reply)["detail"]
        assert detail == (
            f"release {delta} is relative to {first}; this receiver holds no release of {POLICY}"
        )
        assert state.receiver.current(POLICY) is None
        assert not (state.receiver_store / "releases" / f"{delta}.json").exists()
        state.do(("release",))
        state.do(("deliver", "delivered"))
        held = state.receiver.current(POLICY)
    assert _answers(state)[-1] == (201, "")
    assert held is not None
    assert {record["key"]: record for record in held["dwellings"]} == state.truth()


def _send(state: World, ring: KeyRing, row: Release) -> tuple[int, dict[str, str], bytes]:
    """Sign and hand ``row``'s body (as it would go out now) straight to the receiver."""
    with session_scope(make_session_factory(state.database.engine)) as session:
        body = release_body(session, Settings(home=state.home), row)
    url = f"{state.proxy.url}/releases"
    headers = {
        "content-type": "application/json",
        "content-digest": content_digest(body),
        "idempotency-key": row.id,
    }
    signed = sign_request(
        "POST",
        url,
        headers,
        ring.signing,
        key_id(ring.signing.public_key()),
        int(state.now_seconds()),
    )
    reply = state.receiver.accept("POST", url, {**headers, **signed}, body)
    return reply.status, json.loads(reply.body), body


@SQLITE_ONLY
def test_a_release_older_than_the_set_is_refused(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A release older in the log than the set held, arriving after it, is refused (409 order)."""
    with world(database, ring, tmp_path) as state:
        state.do(("upload", (0, 0, 0, 0, 0, 0, None, None)))
        state.do(("release",))
        state.do(("deliver", "failed"))  # failed for good: the broker holds nothing back for it
        state.do(("upload", (None, 1, 0, 0, 0, 0, 0, None)), later=NOW)
        state.do(("release",), later=NOW)  # a resync: the first is not delivered
        state.do(("deliver", "delivered"), later=NOW)
        first, resync = state.outbox()
        status, answer, _ = _send(state, ring, first)  # the older one, sent after it
        held = state.receiver.current(POLICY)
    assert (status, answer["error"]) == (409, "order")
    assert (
        answer["detail"]
        == f"release {first.id} is older in the log than {resync.id}, held for {POLICY}"
    )
    assert held is not None
    assert held["release_id"] == resync.id
    assert {record["key"]: record for record in held["dwellings"]} == state.truths[resync.id]


@SQLITE_ONLY
def test_a_release_applied_before_a_crash_is_stored_when_sent_again(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Set written, release file not (a crash between): the same release again is stored, once."""
    with world(database, ring, tmp_path) as state:
        state.do(("upload", (0, 0, 0, 0, 0, 0, None, None)))
        state.do(("release",))
        state.do(("deliver", "delivered"))
        (row,) = state.outbox()
        stored = state.receiver_store / "releases" / f"{row.id}.json"
        stored.unlink()
        before = state.receiver.current(POLICY)
        status, answer, body = _send(state, ring, row)
    assert (status, answer["status"]) == (201, "stored")
    assert stored.read_bytes() == body
    assert state.receiver.current(POLICY) == before
