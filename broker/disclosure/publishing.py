"""Publishing the disclosure log: integrate what writers sequenced, sign once, tell the witnesses.

A writer's transaction only sequences its entries (``broker.disclosure.record``):
the entry commits with the change it records, cheaply. Publishing puts every
entry sequenced since the last checkpoint under one new signed checkpoint (in
transactions of its own, one integrator at a time: PostgreSQL locks the head
row, SQLite has one writer), then sends that checkpoint to the configured
witnesses. ``broker serve`` and ``broker scheduler`` publish on a thread of
their own at most every ``BROKER_LOG_CHECKPOINT_INTERVAL`` seconds, and only
when the log grew; a command that appends publishes before it exits. A release
is delivered only once a checkpoint covers its entry (``broker.delivery``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from audit import ConcurrentAppendError, ProofError, integrate
from broker.config import Settings
from broker.disclosure.witnessing import WitnessClients, WitnessOutcome, witness_latest
from broker.errors import ConfigError
from broker.keys import KeyRing, KeyStore

__all__ = ["INTEGRATION_BATCH", "Published", "Publisher", "integrate_pending", "publish"]

log = structlog.get_logger(__name__)

INTEGRATION_BATCH = 50_000
"""The most entries one integration transaction takes (a backlog goes in several)."""
_RACES = 3
"""How often an integration that found the head moved is tried again."""


@dataclass(frozen=True, slots=True)
class Published:
    """A new checkpoint: the tree grew from ``old_size`` to ``size``; what the witnesses said."""

    old_size: int
    size: int
    witnesses: tuple[WitnessOutcome, ...] = ()


def integrate_pending(
    engine: Engine, ring: KeyRing, *, batch: int = INTEGRATION_BATCH
) -> Published | None:
    """Integrate every sequenced entry, ``batch`` at a time, each batch under a signed checkpoint.

    Returns None when no entry was waiting.

    Raises:
        ConcurrentAppendError: the head moved under this integrator again and again.
        ProofError: the stored tree or the entries beyond it are not whole (nothing is
            signed over them).
    """
    first: int | None = None
    size = 0
    raced = 0
    while True:
        try:
            with engine.begin() as connection:
                integrated = integrate(connection, ring.signer(), limit=batch)
        except ConcurrentAppendError:
            # Another integrator moved the head between our read and our write: what it
            # integrated is done; go on from its head.
            raced += 1
            if raced > _RACES:
                raise
            continue
        if integrated is None:
            break
        first = integrated.old_size if first is None else first
        size = integrated.size
        if size - integrated.old_size < batch:
            break
    return None if first is None else Published(first, size)


def publish(
    engine: Engine, settings: Settings, ring: KeyRing, *, clients: WitnessClients | None = None
) -> Published | None:
    """Integrate every waiting entry under a new checkpoint; send it to the witnesses.

    Returns None (and asks no witness) when no entry was waiting. ``clients`` keeps
    the witnesses' connections open across calls.
    """
    published = integrate_pending(engine, ring)
    if published is None:
        return None
    log.info("log.published", size=published.size, entries=published.size - published.old_size)
    if not settings.witnesses:
        return published
    outcomes = witness_latest(engine, settings, clients=clients)
    return Published(published.old_size, published.size, tuple(outcomes))


class Publisher:
    """Publishes the log every ``BROKER_LOG_CHECKPOINT_INTERVAL`` seconds, when it grew."""

    def __init__(self, settings: Settings, engine: Engine, keys: KeyStore | None = None) -> None:
        """Publish ``engine``'s log, signing with the keys of ``keys`` (or a store of its own)."""
        self._settings = settings
        self._engine = engine
        self._keys = keys if keys is not None else KeyStore(settings)
        self._witnesses = WitnessClients()

    def step(self) -> Published | None:
        """Publish once; a failure is logged (and tried again at the next step)."""
        try:
            return publish(self._engine, self._settings, self._keys.ring(), clients=self._witnesses)
        except ConfigError as error:
            log.error("log.keys_unavailable", reason=str(error))  # noqa: TRY400 - known cause
        except ConcurrentAppendError:
            log.info("log.integrated_elsewhere")  # another replica published first
        except ProofError as error:
            log.error("log.not_integrable", reason=str(error))  # noqa: TRY400 - known cause
        except SQLAlchemyError as error:
            log.warning("log.database_unavailable", kind=type(error).__name__)
        return None

    def close(self) -> None:
        """Close the witnesses' connections."""
        self._witnesses.close()

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set, and once more then (nothing sequenced is left behind)."""
        while not stop.wait(self._settings.log_checkpoint_interval):
            self.step()
        self.step()
        self.close()

    def start(self) -> Callable[[], None]:
        """Run on a daemon thread; return the function that stops it and waits."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run, args=(stop,), name="broker-publisher", daemon=True
        )
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=30)

        return halt
