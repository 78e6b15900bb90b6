"""Releases: the one path by which anything leaves the broker, and its outbox."""

from broker.release._payload import content_header
from broker.release.models import Release, ReleaseState
from broker.release.repository import release_body
from broker.release.service import Outcome, Queued, queue, release

__all__ = [
    "Outcome",
    "Queued",
    "Release",
    "ReleaseState",
    "content_header",
    "queue",
    "release",
    "release_body",
]
