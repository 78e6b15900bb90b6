"""Delivery as the server runs it: publish the log (its publisher's step), then one round.

A writer only sequences its disclosure entries; ``broker serve``'s publisher puts
them under a signed checkpoint every ``BROKER_LOG_CHECKPOINT_INTERVAL``, and a
release is delivered only once one covers it. Tests that drive ``deliver_due``
themselves publish first, as the server's runner does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from broker.config import Settings
from broker.delivery.service import Attempt, DeliveryHooks, deliver_due
from broker.disclosure.publishing import integrate_pending
from broker.keys import KeyRing


def deliver_published(  # noqa: PLR0913 - deliver_due's parts
    factory: sessionmaker[Session],
    settings: Settings,
    ring: KeyRing,
    client: httpx.Client,
    clock: Callable[[], dt.datetime],
    *,
    hooks: DeliveryHooks | None = None,
) -> list[Attempt]:
    """Integrate every sequenced entry under a signed checkpoint, then deliver what is due."""
    engine = factory.kw["bind"]
    assert isinstance(engine, Engine)
    integrate_pending(engine, ring)
    return deliver_due(factory, settings, ring, client, clock, hooks=hooks)
