"""A receiver's answer decides: a refusal (4xx) fails at once, a passing trouble is retried."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import dwelling_rows
from peers import Fault, Proxy, free_port
from publishing import deliver_published
from sqlalchemy import select

from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory
from broker.delivery.service import Attempt
from broker.disclosure import EntryFilter, entries
from broker.keys import KeyRing, init_keys, load_keys
from broker.policy import Mode
from broker.receiver import Receiver, make_receiver_server
from broker.release import Release
from tests.broker.release.test_release import PHASES, RUN, run, upload, weekly

RECIPIENT = "albertslund/visitation"


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    settings = Settings(home=tmp_path / "home")
    init_keys(settings)
    return load_keys(settings)


@dataclass
class Clock:
    """A frozen clock that a test moves on by hand."""

    now: dt.datetime = RUN

    def __call__(self) -> dt.datetime:
        """Return the time it shows."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move it on by ``seconds``."""
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Line:
    """A real receiver behind the fault proxy, and how to deliver to it."""

    database: Database
    ring: KeyRing
    proxy: Proxy
    store: Path
    settings: Settings
    clock: Clock = field(default_factory=Clock)

    def deliver(self, timeout: float = 5.0) -> list[tuple[str, bool, bool, str]]:
        """Run one delivery round; return (release id, delivered, final, problem) of each."""
        factory = make_session_factory(self.database.engine)
        with httpx.Client(timeout=timeout) as client:
            attempts = deliver_published(factory, self.settings, self.ring, client, self.clock)
        return [_facts(a) for a in attempts]

    def states(self) -> list[tuple[str, int, str | None]]:
        """Return (status, attempts, last error) of each release, in log order."""
        with self.database.engine.connect() as connection:
            rows = connection.execute(
                select(Release.status, Release.attempts, Release.last_error).order_by(
                    Release.log_seq
                )
            )
            return [(status, attempts, error) for status, attempts, error in rows]

    def next_attempt(self, release_id: str) -> dt.datetime:
        """Return when the release is due again."""
        with self.database.engine.connect() as connection:
            due = connection.scalar(select(Release.next_attempt_at).where(Release.id == release_id))
        assert due is not None
        return due if due.tzinfo else due.replace(tzinfo=dt.UTC)

    def logged(self, event: str) -> list[dict[str, object]]:
        """Return the disclosure-log entries of one event."""
        with self.database.engine.connect() as connection:
            return list(entries(connection, EntryFilter(event=event)))


def _facts(attempt: Attempt) -> tuple[str, bool, bool, str]:
    return (attempt.release_id, attempt.delivered, attempt.final, attempt.problem)


@contextmanager
def line(database: Database, tmp_path: Path, ring: KeyRing, faults: list[Fault]) -> Iterator[Line]:
    """Serve a real receiver on 127.0.0.1 behind a proxy that answers ``faults`` first."""
    port = free_port()
    clock = Clock()
    store = tmp_path / "received"
    receiver = Receiver(store, ring.public_keys, clock=lambda: clock().timestamp())
    with Proxy(port, faults) as proxy:
        server = make_receiver_server(receiver, "127.0.0.1", port, public_url=proxy.url)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            webhook = f"{proxy.url}/releases"
            recipient = RecipientSettings(id=RECIPIENT, webhook=webhook)  # type: ignore[arg-type]
            settings = Settings(
                home=tmp_path / "home",
                recipients=(recipient,),
                delivery_backoff=0.05,
                delivery_attempts=8,
            )
            yield Line(database, ring, proxy, store, settings, clock)
        finally:
            server.shutdown()
            server.server_close()


def _releases(database: Database, tmp_path: Path, ring: KeyRing, count: int) -> list[str]:
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    made = [run(database, ring, weekly(Mode.SNAPSHOT)) for _ in range(count)]
    return [item.id for item in made if item is not None]


@pytest.mark.parametrize("status", [413, 400])
def test_a_refusal_fails_at_once_and_holds_nothing_back(
    database: Database, tmp_path: Path, ring: KeyRing, status: int
) -> None:
    """413 or 400: one POST, the release failed on record, the next one to it goes out next."""
    first, second = _releases(database, tmp_path, ring, 2)
    with line(database, tmp_path, ring, [status]) as peer:
        assert peer.deliver() == [(first, False, True, f"HTTP {status}")]
        assert peer.deliver() == [(second, True, True, "")]  # the next round, at once
        peer.clock.advance(3600)
        assert peer.deliver() == []  # refused for good: never sent again
        assert [(e.status, e.upstream) for e in peer.proxy.exchanges] == [
            (status, None),
            (201, 201),
        ]
        assert [e.header("idempotency-key") for e in peer.proxy.exchanges] == [first, second]
    assert peer.states() == [("failed", 1, f"HTTP {status}"), ("delivered", 1, None)]
    failures = peer.logged("delivery-failed")
    assert [(e["release_id"], e["reason"], e["attempts"]) for e in failures] == [
        (first, f"HTTP {status}", 1)
    ]
    assert [e["release_id"] for e in peer.logged("delivery")] == [second]
    assert sorted(path.name for path in (peer.store / "releases").iterdir()) == [f"{second}.json"]


@pytest.mark.parametrize("fault", ["error", 503, 429, 408, "hangup", "slow"])
def test_a_passing_trouble_is_retried_and_holds_the_next_release(
    database: Database, tmp_path: Path, ring: KeyRing, fault: Fault
) -> None:
    """500, 503, 429, 408, a hang-up or a timeout: retried after a backoff, in order, once held."""
    first, second = _releases(database, tmp_path, ring, 2)
    with line(database, tmp_path, ring, [fault]) as peer:
        peer.proxy.slow_seconds = 2.0
        (attempt,) = peer.deliver(timeout=0.5)
        assert attempt[:3] == (first, False, False)  # the second waits behind it
        assert peer.states()[0][:2] == ("pending", 1)
        peer.clock.advance(1)
        assert peer.deliver() == [(first, True, True, ""), (second, True, True, "")]
    assert peer.states() == [("delivered", 2, None), ("delivered", 1, None)]
    assert peer.logged("delivery-failed") == []
    stored = sorted(path.name for path in (peer.store / "releases").iterdir())
    assert stored == sorted(f"{release_id}.json" for release_id in (first, second))


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [("120", 120), (format_datetime(RUN + dt.timedelta(seconds=300), usegmt=True), 300)],
)
def test_retry_after_is_honoured(
    database: Database, tmp_path: Path, ring: KeyRing, retry_after: str, seconds: int
) -> None:
    """A 429 with Retry-After (seconds or an HTTP date) is not tried again before then."""
    (release_id,) = _releases(database, tmp_path, ring, 1)
    with line(database, tmp_path, ring, [429]) as peer:
        peer.proxy.retry_after = retry_after
        assert peer.deliver() == [(release_id, False, False, "HTTP 429")]
        assert peer.next_attempt(release_id) - RUN >= dt.timedelta(seconds=seconds)
        peer.clock.advance(seconds - 1)
        assert peer.deliver() == []
        peer.clock.advance(2)
        assert peer.deliver() == [(release_id, True, True, "")]
        assert [e.status for e in peer.proxy.exchanges] == [429, 201]
        reply = json.loads(peer.proxy.exchanges[1].reply)
    assert reply == {"status": "stored", "release_id": release_id}
