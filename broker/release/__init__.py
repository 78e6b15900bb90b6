"""Releases: the one path by which anything leaves the broker, and its outbox."""

from broker.release._parts import PartError, check_part, cut_parts
from broker.release._parts import assemble as assemble_parts
from broker.release._payload import body as delivered_body
from broker.release._payload import content_header, recipient_key
from broker.release._payload import record as released_record
from broker.release._sets import SetRefused, apply_release
from broker.release.listing import (
    Change,
    ChangeKind,
    Listing,
    ListingRow,
    ListPage,
    Period,
    ReleaseSummary,
    RowStatus,
    address_order,
    list_page,
    listing,
    newest_releases,
    releases_to,
)
from broker.release.models import Release, ReleasePart, ReleaseState
from broker.release.repository import release_body, released_about
from broker.release.retention import forget_purged, is_purged
from broker.release.service import Outcome, Queued, queue, release

__all__ = [
    "Change",
    "ChangeKind",
    "ListPage",
    "Listing",
    "ListingRow",
    "Outcome",
    "PartError",
    "Period",
    "Queued",
    "Release",
    "ReleasePart",
    "ReleaseState",
    "ReleaseSummary",
    "RowStatus",
    "SetRefused",
    "address_order",
    "apply_release",
    "assemble_parts",
    "check_part",
    "content_header",
    "cut_parts",
    "delivered_body",
    "forget_purged",
    "is_purged",
    "list_page",
    "listing",
    "newest_releases",
    "queue",
    "recipient_key",
    "release",
    "release_body",
    "released_about",
    "released_record",
    "releases_to",
]
