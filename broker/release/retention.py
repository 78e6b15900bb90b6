"""What a release leaves behind after its retention: its entry, never its content.

A retention purge (``broker.disclosure.purge``) deletes the content behind each due
entry's commitment from the disclosure log. The outbox keeps a copy of each
release's content (and of a release in parts, its parts) for delivery, the lists
and access requests; :func:`forget_purged` deletes that copy too, for every release
whose content the log no longer holds, so that "deleted at the end of its
retention" is true of the whole database.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from audit import content_seqs
from broker.release.models import Release, ReleasePart

__all__ = ["forget_purged", "is_purged"]

_BATCH = 1000


def is_purged(release: Release) -> bool:
    """Whether the outbox no longer holds the release's content (it was purged)."""
    return not release.content


def forget_purged(session: Session) -> int:
    """Delete the outbox's copy of every release whose content the log has purged.

    Returns how many releases lost their copy now (those purged before are not
    counted again).
    """
    held = session.execute(
        select(Release.id, Release.log_seq).where(func.length(Release.content) > 0)
    ).all()
    if not held:
        return 0
    stored = content_seqs(session.connection(), {int(seq) for _, seq in held})
    gone = [str(release_id) for release_id, seq in held if int(seq) not in stored]
    for start in range(0, len(gone), _BATCH):
        chunk = gone[start : start + _BATCH]
        session.execute(delete(ReleasePart).where(ReleasePart.release_id.in_(chunk)))
        session.execute(
            update(Release).where(Release.id.in_(chunk)).values(content=b"", manifest=None)
        )
    return len(gone)
