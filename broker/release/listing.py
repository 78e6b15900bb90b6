"""The weekly list: what a recipient holds after a release, sorted as a reader wants it.

``listing`` replays the release's chain (a ``changes`` release applies to the set of
its ``base_release``, back to the last snapshot) with the same ``apply_release`` the
reference receiver uses, and compares the set with the one the previous release of
the same policy to the same recipient (in log order) left. The whole chain, and the
previous release's, are loaded in one query, so the cost in queries does not grow
with the history.

Decisions, so that every edge shows the same thing:

- The first release of a policy to a recipient has nothing to compare with: the
  listing says so (``previous is None``) and marks no row. The same holds when the
  previous release's content was purged (``previous_purged``).
- Rows are sorted by street (Danish alphabet: ... z, æ, ø, å), house number (the
  number, then the letter: 2 < 10 < 10A), floor from the bottom of the building up
  (k9 ... k2, kl, st, 1, 2, ... 99), door (tv, mf, th, then numbers, then other
  doors), with the recipient's key last so the order is total. A field the policy
  does not release sorts as empty.
- Withdrawn rows (held before, gone now) are listed among the rest with their last
  known record.
- A release whose content was purged (retention) lists nothing and says so.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, defer

from audit import content_seqs
from broker.errors import InputError, NotFound, Problem
from broker.release._sets import SetRefused, apply_release
from broker.release.models import Release
from schemas import CATALOGUE, PhaseKind

__all__ = [
    "Change",
    "ChangeKind",
    "ListPage",
    "Listing",
    "ListingRow",
    "Period",
    "ReleaseSummary",
    "RowStatus",
    "address_order",
    "list_page",
    "listing",
    "newest_releases",
    "releases_to",
]

_SETS = ("snapshot", "changes")
"""The release modes that carry a policy's set of dwellings (a contact check does not)."""
_PHASE_FIELDS = frozenset({"fase", "startdato", "slutdato"})
_NOT_FIELDS = frozenset({"key", "phases"})
_KINDS = [kind.value for kind in PhaseKind]
_FIELDS = [spec.name for spec in CATALOGUE.fields]


class RowStatus(enum.StrEnum):
    """What happened to a row since the previous release of the same policy."""

    NEW = "new"
    CHANGED = "changed"
    WITHDRAWN = "withdrawn"


class ChangeKind(enum.StrEnum):
    """One kind of change to a held record."""

    PHASE_ADDED = "phase-added"
    PHASE_REMOVED = "phase-removed"
    PHASE_MOVED = "phase-moved"
    FIELD_CHANGED = "field-changed"


@dataclass(frozen=True, slots=True)
class Period:
    """A phase's period as released: ``2027-W09``, ``2027-03`` or ``2027-03-01`` (or absent)."""

    start: str | None
    end: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One change to a record: a phase added, removed or moved, or an address field changed.

    ``subject`` is the phase kind (``genhusning``) or the field's name (``vejnavn``).
    For a phase, ``before``/``after`` are its periods (None when added/removed); for a
    field, its released values.
    """

    kind: ChangeKind
    subject: str
    before: Period | str | None
    after: Period | str | None


@dataclass(frozen=True, slots=True)
class ListingRow:
    """One dwelling as the recipient holds it: only what the policy released.

    ``fields`` are the released address fields (never the key, never the phases);
    ``phases`` each hold the released phase fields. ``status`` is None when the row
    is unchanged, or when there is nothing to compare with.
    """

    key: str
    fields: Mapping[str, Any]
    phases: tuple[Mapping[str, Any], ...]
    status: RowStatus | None = None
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    """A release to a recipient, as listed: no content."""

    id: str
    policy_id: str
    policy_hash: str
    recipient: str
    mode: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    status: str
    log_index: int
    dwellings: int
    withdrawn: int


@dataclass(frozen=True, slots=True)
class Listing:
    """A release and the full set its recipient holds after applying it, sorted.

    ``rows`` include withdrawn ones (``status`` ``withdrawn``). ``previous`` is the
    release compared with (None: the first list, nothing marked). ``purged``: the
    release's content is gone (retention), ``rows`` is empty.
    ``streets`` and ``phase_kinds`` are the values the list's own rows hold, for
    the filters; ``phase_filter``/``street_filter`` say which filter is applied.
    """

    release: ReleaseSummary
    policy_version: int | None
    generated_at: str | None
    rows: tuple[ListingRow, ...]
    previous: ReleaseSummary | None
    purged: bool = False
    previous_purged: bool = False
    streets: tuple[str, ...] = ()
    phase_kinds: tuple[str, ...] = ()
    phase_filter: str | None = None
    street_filter: str | None = None
    left_out: int | None = None
    field_names: tuple[str, ...] = field(default=())
    """The released address fields, in the field catalogue's order."""
    phase_field_names: tuple[str, ...] = field(default=())
    """The released phase fields (of ``fase``, ``startdato``, ``slutdato``)."""

    @property
    def first(self) -> bool:
        """Whether there is no earlier release of this policy to compare with."""
        return self.previous is None

    @property
    def held(self) -> tuple[ListingRow, ...]:
        """Return the rows the recipient holds now (withdrawn ones left out)."""
        return tuple(row for row in self.rows if row.status is not RowStatus.WITHDRAWN)

    def filtered(self, *, phase: str | None = None, street: str | None = None) -> Listing:
        """Return the listing with only the rows with a phase of kind ``phase`` on ``street``.

        Rows keep all their phases. The filter values must be ones the list holds.

        Raises:
            InputError: ``phase`` or ``street`` is not one of the list's own.
        """
        problems = []
        if phase is not None and phase not in self.phase_kinds:
            problems.append(Problem("must be a phase in this list", column="phase"))
        if street is not None and street not in self.streets:
            problems.append(Problem("must be a street in this list", column="street"))
        if problems:
            raise InputError("bad filter", tuple(problems))
        rows = tuple(
            row
            for row in self.rows
            if (phase is None or any(p.get("fase") == phase for p in row.phases))
            and (street is None or row.fields.get("vejnavn") == street)
        )
        return replace(self, rows=rows, phase_filter=phase, street_filter=street)


def _addressed_to(municipality: str) -> ColumnElement[bool]:
    return Release.recipient.startswith(f"{municipality}/", autoescape=True)


def _summary(row: Release) -> ReleaseSummary:
    return ReleaseSummary(
        id=row.id,
        policy_id=row.policy_id,
        policy_hash=row.policy_hash,
        recipient=row.recipient,
        mode=row.mode,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        status=row.status,
        log_index=row.log_seq,
        dwellings=row.dwellings,
        withdrawn=row.withdrawn,
    )


def releases_to(
    session: Session,
    municipality: str,
    *,
    policy_id: str | None = None,
    recipient: str | None = None,
) -> list[ReleaseSummary]:
    """Return the list releases to ``municipality`` (of ``policy_id``, to ``recipient``).

    Newest first in the log. Only releases that carry a set of dwellings (no contact
    checks); contents not loaded.
    """
    query = (
        select(Release)
        .where(_addressed_to(municipality), Release.mode.in_(_SETS))
        .options(defer(Release.content), defer(Release.salt), defer(Release.receipt))
        .order_by(Release.log_seq.desc())
    )
    if policy_id is not None:
        query = query.where(Release.policy_id == policy_id)
    if recipient is not None:
        query = query.where(Release.recipient == recipient)
    return [_summary(row) for row in session.scalars(query)]


def newest_releases(session: Session, municipality: str) -> list[ReleaseSummary]:
    """Return the newest list release to ``municipality`` of each policy and recipient.

    Sorted newest first in the log.
    """
    newest = (
        select(func.max(Release.log_seq))
        .where(_addressed_to(municipality), Release.mode.in_(_SETS))
        .group_by(Release.policy_id, Release.recipient)
    )
    query = (
        select(Release)
        .where(Release.log_seq.in_(newest))
        .options(defer(Release.content), defer(Release.salt), defer(Release.receipt))
        .order_by(Release.log_seq.desc())
    )
    return [_summary(row) for row in session.scalars(query)]


# -- replaying a chain ----------------------------------------------------------------


def _history(session: Session, target: Release) -> list[Release]:
    """Return the releases of ``target``'s policy to its recipient that its listing needs.

    That is every one from the last snapshot before ``target`` (exclusive of none)
    up to ``target``, in log order: it holds ``target``'s chain and the chain of the
    release before it. One query.
    """
    same = (
        Release.policy_id == target.policy_id,
        Release.recipient == target.recipient,
        Release.mode.in_(_SETS),
    )
    snapshot_before = (
        select(func.coalesce(func.max(Release.log_seq), -1))
        .where(*same, Release.mode == "snapshot", Release.log_seq < target.log_seq)
        .scalar_subquery()
    )
    query = (
        select(Release)
        .where(*same, Release.log_seq >= snapshot_before, Release.log_seq <= target.log_seq)
        .options(defer(Release.salt), defer(Release.receipt))
        .order_by(Release.log_seq)
    )
    return list(session.scalars(query))


def _stored(session: Session, seqs: Iterable[int]) -> set[int]:
    """Return which of ``seqs`` still have their content in the disclosure log (not purged)."""
    wanted = set(seqs)
    return content_seqs(session.connection(), wanted) if wanted else set()


def _content(row: Release) -> dict[str, Any] | None:
    if not row.content:
        return None
    loaded: dict[str, Any] = json.loads(row.content)
    return loaded


def _held_after(
    target: Release, by_id: Mapping[str, Release], stored: set[int]
) -> dict[str, Any] | None:
    """Return the set held after ``target``: its chain replayed; None if any of it is purged.

    Raises:
        SetRefused: the chain does not apply (a broken base: the outbox is inconsistent).
    """
    chain: list[Release] = []
    step: Release | None = target
    while step is not None:
        chain.append(step)
        if step.log_seq not in stored:
            return None
        content = _content(step)
        if content is None:
            return None
        if content.get("mode") != "changes":
            break
        base = content.get("base_release")
        step = by_id.get(str(base)) if base is not None else None
        if step is None:
            detail = f"release {target.id} rests on {base}, which is not in its history"
            raise SetRefused("base", detail)
    held: dict[str, Any] | None = None
    for item in reversed(chain):
        content = _content(item)
        assert content is not None  # noqa: S101 - checked on the way down
        held = apply_release(held, content, release_id=item.id, index=item.log_seq)
    return held


# -- sorting ----------------------------------------------------------------------------

# Danish alphabetical order: æ, ø, å after z (and after each other in that order).
_DANISH = str.maketrans({"æ": "z\U0010fff0", "ø": "z\U0010fff1", "å": "z\U0010fff2"})
_HUSNR = re.compile(r"^([0-9]+)\s*([A-Za-z]?)$")
_BASEMENT = re.compile(r"^k([2-9])$")
_DOORS = {"tv": 0, "mf": 1, "th": 2}
_DIGITS = re.compile(r"^([0-9]+)(.*)$")
_LAST = (9, 0, "")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _street_key(value: Any) -> tuple[int, str]:
    text = _text(value)
    return (1, "") if text is None else (0, text.casefold().translate(_DANISH))


def _husnr_key(value: Any) -> tuple[int, int, str]:
    text = _text(value)
    if text is None:
        return _LAST
    match = _HUSNR.match(text)
    if match is None:
        return (1, 0, text)
    return (0, int(match.group(1)), match.group(2).upper())


def _etage_key(value: Any) -> tuple[int, int, str]:
    text = _text(value)
    if text is None:
        return _LAST
    if text == "kl":
        return (0, -1, "")
    if text == "st":
        return (0, 0, "")
    basement = _BASEMENT.match(text)
    if basement is not None:
        return (0, -int(basement.group(1)), "")
    if text.isdigit():
        return (0, int(text), "")
    return (1, 0, text)


def _doer_key(value: Any) -> tuple[int, int, str]:
    text = _text(value)
    if text is None:
        return _LAST
    if text in _DOORS:
        return (0, _DOORS[text], "")
    digits = _DIGITS.match(text)
    if digits is not None:
        return (1, int(digits.group(1)), digits.group(2))
    return (2, 0, text)


def address_order(fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """Return the sort key of an address: street, house number, floor, door.

    The one order of addresses in the code base (the module's docstring gives it); a
    field that is absent or None sorts last. Callers add their own last key (a
    reference) when they need the order to be total.
    """
    return (
        _street_key(fields.get("vejnavn")),
        _husnr_key(fields.get("husnr")),
        _etage_key(fields.get("etage")),
        _doer_key(fields.get("doer")),
    )


def _order(row: ListingRow) -> tuple[Any, ...]:
    return (*address_order(row.fields), row.key)


# -- comparing --------------------------------------------------------------------------


def _phase_map(record: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Return the record's phases by kind (by position when the kind is not released)."""
    phases = record.get("phases") or []
    return {
        str(phase["fase"]) if "fase" in phase else f"#{number}": phase
        for number, phase in enumerate(phases, start=1)
    }


def _period(phase: Mapping[str, Any]) -> Period:
    return Period(_text(phase.get("startdato")), _text(phase.get("slutdato")))


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    found: list[Change] = []
    names = [n for n in after if n not in _NOT_FIELDS]
    names += [n for n in before if n not in _NOT_FIELDS and n not in after]
    for name in names:
        old, new = _text(before.get(name)), _text(after.get(name))
        if old != new:
            found.append(Change(ChangeKind.FIELD_CHANGED, name, old, new))
    old_phases, new_phases = _phase_map(before), _phase_map(after)
    for kind, phase in new_phases.items():
        if kind not in old_phases:
            found.append(Change(ChangeKind.PHASE_ADDED, kind, None, _period(phase)))
        elif dict(old_phases[kind]) != dict(phase):
            previous = _period(old_phases[kind])
            found.append(Change(ChangeKind.PHASE_MOVED, kind, previous, _period(phase)))
    found += [
        Change(ChangeKind.PHASE_REMOVED, kind, _period(phase), None)
        for kind, phase in old_phases.items()
        if kind not in new_phases
    ]
    return tuple(found)


def _row(
    record: Mapping[str, Any], status: RowStatus | None, changes: Sequence[Change]
) -> ListingRow:
    return ListingRow(
        key=str(record["key"]),
        fields={n: v for n, v in record.items() if n not in _NOT_FIELDS},
        phases=tuple(dict(p) for p in record.get("phases") or []),
        status=status,
        changes=tuple(changes),
    )


def _rows(
    now: Mapping[str, Mapping[str, Any]], before: Mapping[str, Mapping[str, Any]] | None
) -> list[ListingRow]:
    if before is None:
        return [_row(record, None, ()) for record in now.values()]
    rows = []
    for key, record in now.items():
        if key not in before:
            rows.append(_row(record, RowStatus.NEW, ()))
            continue
        changes = _changes(before[key], record)
        rows.append(_row(record, RowStatus.CHANGED if changes else None, changes))
    rows += [
        _row(record, RowStatus.WITHDRAWN, ()) for key, record in before.items() if key not in now
    ]
    return rows


def _names(rows: Iterable[ListingRow]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    fields: dict[str, None] = {}
    phase_fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row.fields))
        for phase in row.phases:
            phase_fields.update(dict.fromkeys(phase))
    return tuple(sorted(fields, key=_field_order)), tuple(sorted(phase_fields, key=_field_order))


def _field_order(name: str) -> tuple[int, str]:
    """Order field names as the catalogue does (address first, then phase), unknown ones last."""
    return (_FIELDS.index(name), "") if name in _FIELDS else (len(_FIELDS), name)


def _kind_order(kind: str) -> tuple[int, str]:
    """Order phase kinds as a renovation runs (``schemas.PhaseKind``), unknown ones last."""
    return (_KINDS.index(kind), "") if kind in _KINDS else (len(_KINDS), kind)


def listing(session: Session, municipality: str, release_id: str) -> Listing:
    """Return release ``release_id`` to ``municipality`` as the list its recipient holds.

    Raises:
        NotFound: no such list release, or one addressed to another municipality.
        SetRefused: the release's chain does not apply (the outbox is inconsistent).
    """
    target = session.scalar(
        select(Release)
        .where(_addressed_to(municipality), Release.mode.in_(_SETS), Release.id == release_id)
        .options(defer(Release.content), defer(Release.salt), defer(Release.receipt))
    )
    if target is None:
        raise NotFound("no such release")
    history = _history(session, target)
    by_id = {row.id: row for row in history}
    target = by_id[target.id]
    stored = _stored(session, (row.log_seq for row in history))
    earlier = [row for row in history if row.log_seq < target.log_seq]
    previous = earlier[-1] if earlier else None
    summary = _summary(target)
    content = _content(target) if target.log_seq in stored else None
    held = _held_after(target, by_id, stored)
    if held is None or content is None:
        earlier_summary = _summary(previous) if previous is not None else None
        return Listing(summary, None, None, (), earlier_summary, purged=True)
    before: dict[str, Any] | None = None
    previous_purged = False
    if previous is not None:
        before_set = _held_after(previous, by_id, stored)
        previous_purged = before_set is None
        if before_set is not None:
            before = {str(r["key"]): r for r in before_set["dwellings"]}
    now = {str(r["key"]): r for r in held["dwellings"]}
    rows = sorted(_rows(now, before), key=_order)
    fields, phase_fields = _names(rows)
    streets = {str(row.fields["vejnavn"]) for row in rows if row.fields.get("vejnavn") is not None}
    kinds = {str(p["fase"]) for row in rows for p in row.phases if p.get("fase") is not None}
    version = content.get("policy_version")
    left_out = content.get("left_out")
    return Listing(
        release=summary,
        policy_version=int(version) if isinstance(version, int) else None,
        generated_at=_text(content.get("generated_at")),
        rows=tuple(rows),
        previous=_summary(previous) if previous is not None else None,
        previous_purged=previous_purged,
        streets=tuple(sorted(streets, key=_street_key)),
        phase_kinds=tuple(sorted(kinds, key=_kind_order)),
        left_out=int(left_out) if isinstance(left_out, int) else None,
        field_names=fields,
        phase_field_names=phase_fields,
    )


@dataclass(frozen=True, slots=True)
class ListPage:
    """What a visitator's list page shows: one list, its series, and the other lists.

    ``listing`` is None when nothing was released to the municipality yet. ``history``
    is every release of the list's policy to its recipient, newest first (the shown one
    included); ``others`` the newest release of each other policy or recipient.
    """

    listing: Listing | None
    history: tuple[ReleaseSummary, ...] = ()
    others: tuple[ReleaseSummary, ...] = ()
    problems: tuple[Problem, ...] = ()
    """Filters left off: a value the list does not hold (e.g. a street gone since)."""


def list_page(
    session: Session,
    municipality: str,
    release_id: str | None = None,
    *,
    phase: str | None = None,
    street: str | None = None,
) -> ListPage:
    """Return release ``release_id`` to ``municipality`` (default: the newest) as its page.

    ``phase`` and ``street`` filter the rows (``Listing.filtered``); a value the list
    does not hold leaves that filter off, named in ``problems`` (a bookmarked filter
    on a street that has left the list still opens the list).

    Raises:
        NotFound: no such list release, or one addressed to another municipality.
    """
    newest = newest_releases(session, municipality)
    if release_id is None:
        if not newest:
            return ListPage(None)
        release_id = newest[0].id
    found = listing(session, municipality, release_id)
    problems: list[Problem] = []
    if phase is not None and phase not in found.phase_kinds:
        problems.append(Problem("must be a phase in this list", column="phase"))
        phase = None
    if street is not None and street not in found.streets:
        problems.append(Problem("must be a street in this list", column="street"))
        street = None
    if phase is not None or street is not None:
        found = found.filtered(phase=phase, street=street)
    shown = found.release
    history = releases_to(
        session, municipality, policy_id=shown.policy_id, recipient=shown.recipient
    )
    others = tuple(
        summary
        for summary in newest
        if (summary.policy_id, summary.recipient) != (shown.policy_id, shown.recipient)
    )
    return ListPage(found, tuple(history), others, tuple(problems))
