"""Releases as a recipient's municipality sees them: only those addressed to it.

A release is addressed to ``<municipality>/<function>``; anything addressed
elsewhere is reported as not found, so that its existence does not show.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, defer

from broker.config import Settings
from broker.disclosure.witnessing import receipt_now
from broker.errors import InputError, NotFound, Problem
from broker.release import _payload
from broker.release.models import Release, ReleasePart

__all__ = ["municipality_release", "municipality_releases", "release_body", "released_about"]


def _addressed_to(municipality: str) -> ColumnElement[bool]:
    return Release.recipient.startswith(f"{municipality}/", autoescape=True)


def municipality_releases(
    session: Session, municipality: str, *, after: str | None, limit: int
) -> tuple[list[Release], bool]:
    """Return a page of releases to ``municipality``, newest first, and whether more follow.

    Newest means last put on record. ``after`` is the last release id of the previous
    page. The contents are not loaded.

    Raises:
        InputError: ``after`` is not a release addressed to ``municipality``.
    """
    query = (
        select(Release)
        .where(_addressed_to(municipality))
        .options(defer(Release.content))
        .order_by(Release.log_seq.desc())
        .limit(limit + 1)
    )
    if after is not None:
        seq = session.scalar(
            select(Release.log_seq).where(_addressed_to(municipality), Release.id == after)
        )
        if seq is None:
            rule = "must be the id of a release in this list"
            raise InputError("bad cursor", (Problem(rule, column="after"),))
        query = query.where(Release.log_seq < seq)
    found = list(session.scalars(query))
    return found[:limit], len(found) > limit


def municipality_release(session: Session, municipality: str, release_id: str) -> Release:
    """Return the release ``release_id`` if it is addressed to ``municipality``.

    Raises:
        NotFound: no such release, or one addressed to another municipality.
    """
    found = session.scalar(
        select(Release).where(_addressed_to(municipality), Release.id == release_id)
    )
    if found is None:
        raise NotFound("no such release")
    return found


def release_body(session: Session, settings: Settings, release: Release) -> bytes:
    """Return the release's body as it was delivered or, not delivered yet, as it would be now.

    A release sent in parts is returned whole, with its manifest: its content cuts into
    the parts whose hashes the manifest lists (``broker.release._parts``). Asks no
    witness: a body not yet delivered carries the best receipt stored now.

    Raises:
        AuditError: no checkpoint covers the release's entry.
        NotFound: the release's content was deleted at the end of its retention.
    """
    if not release.content:
        raise NotFound("this release's content was deleted at the end of its retention")
    manifest = release.manifest
    if release.receipt is not None:
        return _payload.body(
            release.content,
            release.salt,
            release.receipt,
            release.receipt_uncosigned,
            manifest=manifest,
        )
    cut = receipt_now(session.connection(), settings, release.log_seq)
    return _payload.body(release.content, release.salt, cut.text, cut.uncosigned, manifest=manifest)


def released_about(session: Session, release: Release, key: str) -> dict[str, Any]:
    """Return the content of ``release`` that would hold the dwelling known as ``key``.

    The whole content for a release sent whole; for one sent in parts, only the part
    whose key range (in its manifest) covers ``key``, read alone: an access request
    about one dwelling does not parse a national release. Empty when no part covers it.
    """
    if release.manifest is None:
        whole: dict[str, Any] = json.loads(release.content)
        return whole
    listed = json.loads(release.manifest)["parts"]
    number = next(
        (
            int(item["part"])
            for item in listed
            if item["first_key"] is not None and item["first_key"] <= key <= item["last_key"]
        ),
        None,
    )
    if number is None:
        return {}
    data = session.scalar(
        select(ReleasePart.content).where(
            ReleasePart.release_id == release.id, ReleasePart.part == number
        )
    )
    part: dict[str, Any] = json.loads(data) if data is not None else {}
    return part
