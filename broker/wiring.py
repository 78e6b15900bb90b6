"""How the topics are joined, built once by each edge (the API, the CLI, the runner's hosts).

A generic mechanism knows no flow: delivery announces what arrived through
hooks, and the topics that care register theirs here, explicitly, not by the
side effect of an import.
"""

from __future__ import annotations

from broker.config import Settings
from broker.contact.service import register_hooks as contact_hooks
from broker.delivery.service import DeliveryHooks
from broker.runner import Watcher
from broker.web import AlertMail, register_notifications

__all__ = ["delivery_hooks", "round_watchers"]


def delivery_hooks(settings: Settings) -> DeliveryHooks:
    """Return the hooks told of each delivered release.

    A contact check records ``received``; a list to a recipient with a ``notify``
    address sends its notification (when ``settings.smtp`` is set).
    """
    hooks = DeliveryHooks()
    contact_hooks(hooks)
    register_notifications(hooks, settings)
    return hooks


def round_watchers(settings: Settings) -> tuple[Watcher, ...]:
    """Return what looks on after each round of the runner: the operator's alert e-mail."""
    return (AlertMail(settings),)
