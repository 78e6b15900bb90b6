"""Running the broker: what the operator sees (agreements, deliveries, witnesses), and acts on."""

from broker.operations.service import (
    STALLED_AFTER,
    Agreement,
    Alert,
    Deliveries,
    Overview,
    alerts,
    deliveries,
    overview,
)

__all__ = [
    "STALLED_AFTER",
    "Agreement",
    "Alert",
    "Deliveries",
    "Overview",
    "alerts",
    "deliveries",
    "overview",
]
