"""How the topics are joined, built once by each edge (the API, the CLI, the runner's hosts).

A generic mechanism knows no flow: delivery announces what arrived through
hooks, and the topics that care register theirs here, explicitly, not by the
side effect of an import.
"""

from __future__ import annotations

from broker.contact.service import register_hooks as contact_hooks
from broker.delivery.service import DeliveryHooks

__all__ = ["delivery_hooks"]


def delivery_hooks() -> DeliveryHooks:
    """Return the hooks told of each delivered release: a contact check records ``received``."""
    hooks = DeliveryHooks()
    contact_hooks(hooks)
    return hooks
