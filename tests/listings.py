"""Listing tests' helpers: a broker with keys, whose releases are made by the real path.

`ListWorld` uploads schedules, releases the weekly policy (snapshot or changes mode) and
delivers by a directory drop, each step in its own committed transaction, as the CLI does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import httpx
from databases import Database
from factories import dwelling_rows, export_row, with_personal, write_csv
from publishing import deliver_published

from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.ingest.service import ingest_file
from broker.keys import KeyRing, init_keys, load_keys
from broker.policy import Mode, Policy, load_policy_file
from broker.release import Listing, Release, listing, release
from tests.broker.test_privacy import PLANTED

POLICIES = Path(__file__).resolve().parents[1] / "policies"
RUN = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)  # a Monday, 06:00 in Copenhagen
REHOUSING = ("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30))  # uge 9-26 2027
NOTICE = ("varsling", dt.date(2027, 2, 24), dt.date(2027, 2, 24))  # uge 8 2027
LATER = ("genhusning", dt.date(2027, 3, 15), dt.date(2027, 6, 30))  # uge 11-26 2027
PHASES = (NOTICE, REHOUSING)
MUNICIPALITY = "albertslund"


def weekly(mode: Mode = Mode.SNAPSHOT, **update: object) -> Policy:
    """Return the weekly visitation policy, in ``mode``, with ``update`` applied."""
    loaded, problems = load_policy_file(POLICIES / "albertslund-visitation-weekly.yaml")
    assert loaded is not None, problems
    return loaded.policy.model_copy(update={"mode": mode, **update})


def rows(
    count: int, *, first: int = 1, phases: Sequence[tuple[str, dt.date, dt.date]] = PHASES
) -> list[dict[str, str]]:
    """Export rows for dwellings ``first``.., with the planted personal values in every row."""
    return with_personal(dwelling_rows(count, first=first, phases=phases), PLANTED)


def mixed_street_rows() -> list[dict[str, str]]:
    """Rows on three streets, house numbers 2, 10 and 10A, floors kl/st/1, doors tv/mf/th/3."""
    made = []
    places = [
        ("Åvej", "2", "st", "tv"),
        ("Ågade", "1", "st", "tv"),
        ("Prøvevej", "10A", "st", "tv"),
        ("Prøvevej", "10", "1", "th"),
        ("Prøvevej", "10", "1", "tv"),
        ("Prøvevej", "10", "st", "3"),
        ("Prøvevej", "10", "kl", "mf"),
        ("Prøvevej", "2", "2", "mf"),
        ("Ærtevej", "5", "st", "tv"),
        ("Østervej", "5", "st", "tv"),
    ]
    for number, (street, husnr, etage, doer) in enumerate(places, start=1):
        for kind, start, end in PHASES:
            made.append(
                export_row(
                    Lejemålsnr=f"0412-0000-{number:03d}",
                    Vejnavn=street,
                    Husnr=husnr,
                    Etage=etage,
                    Dør=doer,
                    Fase=kind,
                    Startdato=start.strftime("%d-%m-%Y"),
                    Slutdato=end.strftime("%d-%m-%Y"),
                )
            )
    return with_personal(made, PLANTED)


class ListWorld:
    """A broker site on ``database``: keys in ``home``, a clock that moves a day per step."""

    def __init__(self, database: Database, home: Path, policy: Policy) -> None:
        """Make the broker's keys; releases go out under ``policy``."""
        self.database = database
        self.home = home
        settings = Settings(home=home)
        init_keys(settings)
        self.ring: KeyRing = load_keys(settings)
        self.policy = policy
        self.now = RUN
        self.factory = make_session_factory(database.engine)

    def upload(self, export: list[dict[str, str]]) -> None:
        """Ingest ``export`` as bo-vest's newest schedule."""
        path = write_csv(self.home / "export.csv", export)
        with session_scope(self.factory) as session:
            ingest_file(session, path, org="bo-vest", now=self.now)

    def release(self, *, deliver: bool = True) -> str:
        """Release the policy (a day after the last step) and deliver it; return its id."""
        self.now += dt.timedelta(days=1)
        with session_scope(self.factory) as session:
            made = release(session, self.ring, self.policy, run_at=self.now, now=self.now).release
            assert made is not None
            release_id = made.id
        if deliver:
            self.deliver()
        return release_id

    def deliver(self) -> None:
        """Deliver what is due by a directory drop."""
        recipient = RecipientSettings(id=self.policy.recipient, directory=self.home / "drop")  # type: ignore[arg-type]
        settings = Settings(home=self.home, recipients=(recipient,), delivery_attempts=1)
        with httpx.Client() as client:
            attempts = deliver_published(
                self.factory, settings, self.ring, client, lambda: self.now
            )
        assert all(attempt.delivered for attempt in attempts)

    def listing(self, release_id: str) -> Listing:
        """Return the listing of ``release_id`` to Albertslund."""
        with session_scope(self.factory) as session:
            return listing(session, MUNICIPALITY, release_id)

    def outbox(self) -> list[Release]:
        """Return the outbox rows (contents deferred to nothing: detached)."""
        with session_scope(self.factory) as session:
            found = list(session.query(Release).order_by(Release.log_seq))
            session.expunge_all()
        return found
