"""`changes` releases are relative to what the recipient holds; after a failure, a resync."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from databases import Database
from factories import dwelling_rows, with_personal, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peers import (
    PHASES,
    POLICIES,
    POLICY,
    TODAY,
    Proxy,
    Site,
    changes_policies,
    free_port,
    released_id,
)
from publishing import deliver_published
from sqlalchemy import select
from structlog.testing import capture_logs

from broker.config import RecipientSettings, Settings
from broker.db import make_engine, make_session_factory, session_scope, upgrade
from broker.delivery.service import retry_failed
from broker.errors import InputError
from broker.ingest.service import ingest_file
from broker.keys import KeyRing, init_keys, load_keys
from broker.policy import Mode, Policy, load_policy_file
from broker.policy.service import explain
from broker.receiver import Receiver, make_receiver_server
from broker.release import Release, _payload, release
from tests.broker.test_privacy import PLANTED, _assert_absent, _stored_bytes

# Dwelling 2's rehousing moves a week later; the notice stays.
LATER = (PHASES[0], ("genhusning", TODAY + dt.timedelta(days=21), TODAY + dt.timedelta(days=100)))


def _push(site: Site, *, fails: bool) -> str:
    """`broker push`; when the peer fails, `broker deliver` once more (the second, last try)."""
    pushed = site.broker("push", POLICY)
    release_id = released_id(pushed.stdout)
    if not fails:
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        return release_id
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    assert "will retry" in pushed.stderr
    failed = site.broker("deliver")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"FAILED for good: {release_id}" in failed.stderr
    return release_id


@pytest.mark.slow
def test_a_release_failed_for_good_leaves_the_receiver_holding_the_truth(bare_site: Site) -> None:
    """Three uploads, the 2nd and 4th release failing for good: the receiver ends at the truth."""
    site = bare_site
    policies, policy = changes_policies(site.tmp / "policies")
    site.settings |= {"BROKER_POLICIES_DIR": str(policies), "BROKER_DELIVERY_ATTEMPTS": "2"}
    faults = ["forward", "error", "error", "forward", "error", "error"]
    with site.through_proxy(faults) as (_proxy, receiver):
        site.ingest(dwelling_rows(6, phases=PHASES))
        first = _push(site, fails=False)
        # Dwelling 1 is no longer affected, dwelling 2 moves a week, dwelling 7 is new.
        site.ingest(
            dwelling_rows(1, first=2, phases=LATER) + dwelling_rows(5, first=3, phases=PHASES)
        )
        second = _push(site, fails=True)
        third = _push(site, fails=False)
        assert site.replay(receiver, POLICY) == site.truth(policy)
        assert receiver.current(POLICY) == site.truth(policy)
        # Dwelling 3 is no longer affected, dwelling 4 moves a week.
        site.ingest(
            dwelling_rows(1, first=2, phases=LATER)
            + dwelling_rows(1, first=4, phases=LATER)
            + dwelling_rows(3, first=5, phases=PHASES)
        )
        fourth = _push(site, fails=True)
        fifth = _push(site, fails=False)
        truth = site.truth(policy)
        assert len(truth) == 5
        assert site.replay(receiver, POLICY) == truth
        assert receiver.current(POLICY) == truth
        refused = site.broker("deliver", "--retry", fourth)
        assert refused.returncode == 1
        assert f"a later release, {fifth}, was delivered" in refused.stderr

    contents = {path.stem: json.loads(path.read_bytes())["release"] for path in receiver.releases()}
    assert sorted(contents) == sorted([first, third, fifth])
    # Each release after a failure replaces the recipient's set, and says so.
    for release_id, size in ((third, 6), (fifth, 5)):
        content = contents[release_id]
        assert (content["mode"], content["resync"], content["base_release"]) == (
            "snapshot",
            True,
            None,
        )
        assert (len(content["dwellings"]), content["withdrawn"]) == (size, [])
    entries = {entry["release_id"]: entry for entry in site.entries("release")}
    assert [entries[r]["mode"] for r in (first, second, third, fourth, fifth)] == [
        "snapshot",
        "changes",
        "snapshot",
        "changes",
        "snapshot",
    ]
    assert [entries[r]["resync"] for r in (first, second, third, fourth, fifth)] == [
        True,
        False,
        True,
        False,
        True,
    ]
    assert (entries[second]["base_release"], entries[fourth]["base_release"]) == (first, third)
    site.assert_log_verifies()


# The property: any sequence of uploads, releases and delivery outcomes.

RUN = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(hours=2)  # beyond any backoff: a release still pending is due again
SLOTS = 8  # dwellings 1..8; an upload holds each or not, in one of two phase variants
VARIANTS = (
    (("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),),
    (("genhusning", dt.date(2027, 3, 8), dt.date(2027, 6, 30)),),
)
Upload = tuple[int | None, ...]
Outcome = Literal["delivered", "failed", "retried-later"]
Step = (
    tuple[Literal["upload"], Upload]
    | tuple[Literal["release"]]
    | tuple[Literal["deliver"], Outcome]
    | tuple[Literal["retry"], bool]
)


def _rows(upload: Upload) -> list[dict[str, str]]:
    return [
        row
        for number, variant in enumerate(upload, start=1)
        if variant is not None
        for row in dwelling_rows(1, first=number, phases=VARIANTS[variant])
    ]


def _weekly_changes() -> Policy:
    loaded, problems = load_policy_file(POLICIES / f"{POLICY}.yaml")
    assert loaded is not None, problems
    return loaded.policy.model_copy(update={"mode": Mode.CHANGES})


@dataclass
class World:
    """A broker (its database and keys) delivering through a faulty proxy to a receiver."""

    database: Database
    ring: KeyRing
    home: Path
    proxy: Proxy
    policy: Policy = field(default_factory=_weekly_changes)
    now: dt.datetime = RUN
    truths: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """For each release made: the set, by key, the policy released when it was made."""
    receiver: Receiver = field(init=False)

    def __post_init__(self) -> None:
        """The receiver keeps the world's time (it checks that signatures are fresh)."""
        self.receiver = Receiver(self.receiver_store, self.ring.public_keys, clock=self.now_seconds)

    @property
    def receiver_store(self) -> Path:
        """Return the receiver's store directory."""
        return self.home / "municipality"

    def now_seconds(self) -> float:
        """Return the world's time as POSIX seconds."""
        return self.now.timestamp()

    def truth(self) -> dict[str, dict[str, Any]]:
        """Return, by key, what the policy releases now (the oracle: the pure evaluation)."""
        with session_scope(make_session_factory(self.database.engine)) as session:
            plan = explain(session, self.policy, at=self.now.date())
        reference_key, recipient = self.ring.reference_key, self.policy.recipient
        return {
            record["key"]: record
            for record in (
                _payload.record(_payload.recipient_key(reference_key, recipient, d.ref), d)
                for d in plan.dwellings
            )
        }

    def do(self, step: Step, *, later: dt.timedelta = STEP) -> None:
        """Take one step, ``later`` than the one before."""
        self.now += later
        if step[0] == "upload":
            path = write_csv(self.home / "export.csv", with_personal(_rows(step[1]), PLANTED))
            with session_scope(make_session_factory(self.database.engine)) as session:
                ingest_file(session, path, org="bo-vest", now=self.now)
        elif step[0] == "release":
            with session_scope(make_session_factory(self.database.engine)) as session:
                made = release(session, self.ring, self.policy, run_at=self.now, now=self.now)
            if made.release is not None:
                self.truths[made.release.id] = self.truth()
        elif step[0] == "deliver":
            self.deliver(step[1])
        else:
            self.retry(newest=step[1])

    def deliver(self, outcome: Outcome, *, attempts: int | None = None) -> None:
        """Deliver what is due; the peer answers 500 unless ``delivered``.

        A failure is final after ``attempts`` (by default: at once when ``failed``).
        """
        self.proxy.then = "forward" if outcome == "delivered" else "error"
        recipient = RecipientSettings(
            id=self.policy.recipient, webhook=f"{self.proxy.url}/releases"
        )  # type: ignore[arg-type]
        settings = Settings(
            home=self.home,
            recipients=(recipient,),
            delivery_attempts=attempts or (1 if outcome == "failed" else 100),
            delivery_backoff=1.0,
        )
        with httpx.Client(timeout=10) as client:
            deliver_published(
                make_session_factory(self.database.engine),
                settings,
                self.ring,
                client,
                lambda: self.now,
            )

    def retry(self, *, newest: bool) -> None:
        """`deliver --retry` the newest (or oldest) release failed for good, if any."""
        rows = self.outbox()
        failed = [row for row in rows if row.status == "failed"]
        if not failed:
            return
        chosen = failed[-1 if newest else 0]
        later = [r.id for r in rows if r.log_seq > chosen.log_seq and r.status == "delivered"]
        factory = make_session_factory(self.database.engine)
        if not later:
            with session_scope(factory) as session:
                retry_failed(session, chosen.id, now=self.now)
            return
        with pytest.raises(InputError) as refused, session_scope(factory) as session:
            retry_failed(session, chosen.id, now=self.now)
        assert f"a later release, {later[0]}, was delivered" in str(refused.value.problems[0])

    def outbox(self) -> list[Release]:
        """Return the outbox rows in log order."""
        with session_scope(make_session_factory(self.database.engine)) as session:
            rows = list(session.scalars(select(Release).order_by(Release.log_seq)))
            session.expunge_all()
        return rows

    def check(self) -> None:
        """The receiver holds the truth as of the newest release delivered; nothing was refused."""
        delivered = [row.id for row in self.outbox() if row.status == "delivered"]
        held = self.receiver.current(self.policy.id)
        if not delivered:
            assert held is None
        else:
            assert held is not None
            assert held["release_id"] == delivered[-1]
            assert {r["key"]: r for r in held["dwellings"]} == self.truths[delivered[-1]]
        # The broker never sent a delta on a base the receiver does not hold.
        assert {e.upstream for e in self.proxy.exchanges} <= {None, 201}

    def settle(self) -> None:
        """Release once more and deliver everything: the receiver then holds the truth now."""
        self.do(("release",))
        for _ in range(3):
            self.do(("deliver", "delivered"))
        assert all(row.status != "pending" for row in self.outbox())
        self.check()
        held = self.receiver.current(self.policy.id)
        assert held is not None
        assert {r["key"]: r for r in held["dwellings"]} == self.truth()


@contextmanager
def world(database: Database, ring: KeyRing, home: Path) -> Iterator[World]:
    """A world whose receiver serves on 127.0.0.1 behind a proxy that forwards or fails."""
    port = free_port()
    with Proxy(port) as proxy:
        state = World(database, ring, home, proxy)
        server = make_receiver_server(state.receiver, "127.0.0.1", port, public_url=proxy.url)
        serve = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        serve.start()
        try:
            yield state
        finally:
            server.shutdown()
            server.server_close()


# Each of the 8 dwellings in one of its two variants, and at most 3 of them not affected
# (a release needs at least min_dwellings = 5).
uploads = st.builds(
    lambda variants, gone: tuple(None if i in gone else v for i, v in enumerate(variants)),
    st.tuples(*[st.sampled_from([0, 1])] * SLOTS),
    st.sets(st.integers(0, SLOTS - 1), max_size=SLOTS - 5),
)
steps = st.one_of(
    st.tuples(st.just("upload"), uploads),
    st.tuples(st.just("release")),
    st.tuples(st.just("deliver"), st.sampled_from(["delivered", "failed", "retried-later"])),
    st.tuples(st.just("retry"), st.booleans()),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeyRing]:
    """A migrated SQLite file to copy for each example, and one set of log keys."""
    directory = tmp_path_factory.mktemp("template")
    path = directory / "broker.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    init_keys(Settings(home=directory / "home"))
    return path, load_keys(Settings(home=directory / "home"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(steps, min_size=1, max_size=10))
def test_the_receiver_holds_the_truth_after_any_faults(
    template: tuple[Path, KeyRing], tmp_path_factory: pytest.TempPathFactory, sequence: list[Step]
) -> None:
    """After every step the receiver holds the truth of the newest delivered release; then now."""
    path, ring = template
    home = tmp_path_factory.mktemp("example")
    shutil.copy(path, home / "broker.db")
    database = Database("sqlite", f"sqlite:///{home / 'broker.db'}", None, home / "broker.db")
    try:
        with world(database, ring, home) as state:
            for step in [("upload", (0,) * 6 + (None, None)), *sequence]:
                state.do(step)  # type: ignore[arg-type]
                state.check()
            state.settle()
    finally:
        database.dispose()


def test_the_issues_sequence_ends_at_the_truth(
    database: Database, tmp_path: Path, template: tuple[Path, KeyRing]
) -> None:
    """The issue's faults, a pending release and a retry, step by step; nothing personal leaves."""
    _, ring = template
    sequence: list[Step] = [
        ("upload", (0, 0, 0, 0, 0, 0, None, None)),
        ("release",),
        ("deliver", "delivered"),
        ("upload", (None, 1, 0, 0, 0, 0, 0, None)),  # 1 withdrawn, 2 changed, 7 new
        ("release",),
        ("deliver", "failed"),
        ("release",),  # a resync: the receiver still holds dwelling 1
        ("deliver", "delivered"),
        ("upload", (None, 1, None, 1, 0, 0, 0, 0)),  # 3 withdrawn, 4 changed, 8 new
        ("release",),
        ("deliver", "retried-later"),  # still pending
        ("upload", (None, 1, None, 1, None, 0, 0, 0)),  # 5 withdrawn, too
        ("release",),  # a resync on top of the pending one
        ("deliver", "failed"),  # the pending one fails for good; the resync waits behind it
        ("retry", True),  # the failed one again: nothing later was delivered
        ("deliver", "delivered"),  # it arrives on the base it was made on; then the resync
        ("retry", False),  # the first failure, refused: it would arrive out of order
    ]
    with capture_logs() as logs, world(database, ring, tmp_path) as state:
        for step in sequence:
            state.do(step)
            state.check()
        state.settle()
    statuses = [row.status for row in state.outbox()]
    assert statuses == ["delivered", "failed", "delivered", "delivered", "delivered"]

    # Every upload carried personal columns: none of it reached the wire, the receiver's
    # files (its current set included), the log lines or the database.
    current = state.receiver_store / "current" / f"{POLICY}.json"
    assert "Prøvevej".encode() in current.read_bytes()  # the scan does see what is held
    for path in sorted(state.receiver_store.rglob("*")):
        if path.is_file():
            _assert_absent(path.read_bytes(), f"the receiver's {path.name}")
    for exchange in state.proxy.exchanges:
        headers = "\n".join(f"{name}: {value}" for name, value in exchange.headers).encode()
        _assert_absent(exchange.body + headers + exchange.reply, "a delivery or its answer")
    _assert_absent(repr(logs).encode(), "the log lines")
    database.dispose()
    _assert_absent(_stored_bytes(database), f"the {database.backend} database")
