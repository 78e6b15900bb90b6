"""Releases: the one path by which anything leaves the broker, and its outbox."""

from broker.release._payload import body as delivered_body
from broker.release._payload import content_header, recipient_key
from broker.release._payload import record as released_record
from broker.release.models import Release, ReleaseState
from broker.release.repository import release_body
from broker.release.service import Outcome, Queued, queue, release

__all__ = [
    "Outcome",
    "Queued",
    "Release",
    "ReleaseState",
    "content_header",
    "delivered_body",
    "queue",
    "recipient_key",
    "release",
    "release_body",
    "released_record",
]
