"""The broker's background work: scheduled releases and the delivery of what is due.

``broker serve`` runs it on a thread beside the HTTP server; ``broker scheduler``
runs it alone. Each scheduled run is claimed in the database first, so several
replicas on one PostgreSQL database release it once in total.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence

import httpx
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from broker.config import Settings
from broker.contact.service import close_unanswered
from broker.db import make_session_factory, session_scope
from broker.delivery.service import DeliveryHooks, deliver_due
from broker.disclosure import policy_registered, record
from broker.disclosure.publishing import Publisher, publish
from broker.disclosure.witnessing import WitnessClients
from broker.errors import ConfigError
from broker.keys import KeyStore
from broker.policy import Flow, LoadedPolicy, Schedule
from broker.policy.service import record_versions
from broker.release import release
from broker.scheduler import Scheduler

__all__ = ["POLL_SECONDS", "Runner", "Watcher", "version_recorder"]

log = structlog.get_logger(__name__)

POLL_SECONDS = 5.0
"""How often due deliveries (retries) are looked for."""


Watcher = Callable[[sessionmaker[Session], dt.datetime], object]
"""Called after each round of the runner's work with its session factory and the time."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Runner:
    """Ticks the scheduler, releases each claimed run, and delivers whatever is due."""

    def __init__(  # noqa: PLR0913 - the runner's parts; keys and hooks by keyword
        self,
        settings: Settings,
        engine: Engine,
        policies: Callable[[], tuple[LoadedPolicy, ...]],
        clock: Callable[[], dt.datetime] = _now,
        *,
        keys: KeyStore | None = None,
        hooks: DeliveryHooks | None = None,
        watchers: Sequence[Watcher] = (),
    ) -> None:
        """Work on ``engine`` with the policies in force that ``policies`` returns.

        The log keys come from ``keys`` (by default a store of the runner's own): loaded
        once, and again only when a rotation wrote a newer key. ``hooks`` are told of
        each delivered release (``broker.wiring.delivery_hooks``); ``watchers`` are
        called after each round (``broker.wiring.round_watchers``: the alert e-mail).
        """
        self._settings = settings
        self._keys = keys if keys is not None else KeyStore(settings)
        self._engine = engine
        self._policies = policies
        self._clock = clock
        self._hooks = hooks
        self._watchers = tuple(watchers)
        self._factory = make_session_factory(engine)
        self._client = httpx.Client(timeout=settings.delivery_timeout)
        self._witnesses = WitnessClients()
        self._publisher = Publisher(settings, engine, self._keys)
        self.scheduler = Scheduler(self._factory, self._schedules, self.run_release)

    def _schedules(self) -> Mapping[str, Schedule]:
        return {
            item.policy.id: item.policy.schedule
            for item in self._policies()
            if item.policy.schedule is not None and item.policy.flow is Flow.AFFECTED_DWELLINGS
        }

    def run_release(self, session: Session, policy_id: str, due_at: dt.datetime) -> None:
        """Release one claimed run of ``policy_id`` (the policy in force now) in ``session``.

        Raises:
            ConfigError: the log keys cannot be loaded, or the policy's recipient is not
                configured; the run is tried again later.
        """
        policy = next((p.policy for p in self._policies() if p.policy.id == policy_id), None)
        if policy is None:
            log.error("release.policy_gone", policy_id=policy_id)
            return
        if policy.recipient not in {r.id for r in self._settings.recipients}:
            # Nothing on record for a release no one can deliver: the run is tried again
            # (with the scheduler's backoff) until the recipient is configured.
            message = f"the policy's recipient {policy.recipient} is not configured"
            raise ConfigError(message + " (BROKER_RECIPIENTS)")
        ring = self._keys.ring()
        outcome = release(
            session,
            ring,
            policy,
            run_at=due_at,
            now=self._clock(),
            part_dwellings=self._settings.release_part_dwellings,
        )
        if outcome.release is None:
            log.info("release.nothing", policy_id=policy_id, reason=outcome.reason)
            return
        log.info(
            "release.committed",
            policy_id=policy_id,
            release_id=outcome.release.id,
            dwellings=outcome.release.dwellings,
            withdrawn=outcome.release.withdrawn,
        )

    def step(self) -> float:
        """Do one round of work; return how long to wait before the next."""
        now = self._clock()
        try:
            released = self.scheduler.tick(now)
            ring = self._keys.ring()
            if released:
                # Delivery waits for a checkpoint over the release: publish it now, not
                # at the publisher's next turn.
                self._publisher.step()
            with session_scope(self._factory) as session:
                older_than = dt.timedelta(days=self._settings.contact_check_days)
                close_unanswered(session, ring, older_than=older_than, now=now)
            attempts = deliver_due(
                self._factory,
                self._settings,
                ring,
                self._client,
                self._clock,
                witnesses=self._witnesses,
                hooks=self._hooks,
            )
            if attempts:
                self._publisher.step()
            for watcher in self._watchers:
                watcher(self._factory, now)
        except ConfigError as error:
            log.error("runner.keys_unavailable", reason=str(error))  # noqa: TRY400 - known cause
        except SQLAlchemyError as error:
            log.warning("runner.database_unavailable", kind=type(error).__name__)
        return min(self.scheduler.seconds_to_next(self._clock()), POLL_SECONDS)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set."""
        while not stop.is_set():
            stop.wait(self.step())
        self._client.close()
        self._witnesses.close()
        self._publisher.close()

    def start(self) -> Callable[[], None]:
        """Run on a daemon thread; return the function that stops it and waits."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="broker-runner", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=30)

        return halt


def version_recorder(
    db: Engine, settings: Settings, keys: KeyStore | None = None
) -> Callable[[tuple[LoadedPolicy, ...]], None]:
    """Return the callback that puts each policy version in force on record.

    Its exact text is stored by hash, and a ``policy-registered`` entry goes into
    the disclosure log in the same transaction, then is published (signed, witnessed). The log keys
    come from ``keys`` (by default a store of the callback's own).
    """
    store = keys if keys is not None else KeyStore(settings)

    def record_loaded(loaded: tuple[LoadedPolicy, ...]) -> None:
        try:
            ring = store.ring()
        except ConfigError as exc:
            log.error("policy.versions_not_recorded", reason=str(exc))  # noqa: TRY400 - a known cause, no traceback
            return
        at = dt.datetime.now(dt.UTC)
        try:
            with session_scope(make_session_factory(db)) as session:
                added = set(record_versions(session, loaded, now=at))
                drafts = [
                    policy_registered(item.policy, at=at)
                    for item in loaded
                    if item.policy.content_hash in added
                ]
                if drafts:
                    record(session, ring, drafts)
        except SQLAlchemyError as exc:
            log.warning("policy.versions_not_recorded", kind=type(exc).__name__)
            return
        if added:
            log.info("policy.versions_recorded", hashes=sorted(added))
            try:
                publish(db, settings, ring)
            except SQLAlchemyError as exc:  # recorded: the publisher signs it at its next turn
                log.warning("policy.versions_not_published", kind=type(exc).__name__)

    return record_loaded
