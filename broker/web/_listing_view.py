"""The weekly list as it is shown: texts in the reader's language, from ``broker.release.Listing``.

The page, the PDF (``lists/_table.html``) and the XLSX all read this one view, so the
three say the same thing. Nothing is added that the listing does not hold: every cell
is a released field, a label for one, or a text about the release itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.release import (
    Change,
    ChangeKind,
    Listing,
    ListingRow,
    Period,
    ReleaseSummary,
    RowStatus,
)
from broker.web._listing_text import (
    CHANGE_TEXTS,
    FIELD_LABELS,
    PHASE_LABELS,
    TEXTS,
    Gettext,
    gettext_for,
)
from broker.web._periods import (
    Point,
    moment_text,
    parse_point,
    period_text,
    point_text,
    short_point_text,
)

__all__ = ["ListView", "PhaseLine", "TableRow", "list_view", "phase_line", "release_label"]


@dataclass(frozen=True, slots=True)
class PhaseLine:
    """One phase of a row: its kind (as released), label and period text, and its points."""

    kind: str | None
    label: str
    period: str
    start: Point | None
    end: Point | None


@dataclass(frozen=True, slots=True)
class TableRow:
    """One dwelling of the list: its address cells, phases and the change text."""

    key: str
    cells: tuple[str, ...]
    phases: tuple[PhaseLine, ...]
    status: str | None
    change: str


@dataclass(frozen=True, slots=True)
class ListView:
    """The list in one language: headings, rows, notes, and the trace to the disclosure log."""

    lang: str
    title: str
    field_names: tuple[str, ...]
    headings: tuple[str, ...]
    has_phases: bool
    phase_heading: str
    rows: tuple[TableRow, ...]
    notes: tuple[str, ...]
    trace: tuple[tuple[str, str], ...]
    purged: bool
    texts: dict[str, str]
    """The list's other words, translated (``TEXTS``' keys)."""


def _text(value: object) -> str:
    return "" if value is None else str(value)


def phase_label(kind: str | None, gettext: Gettext) -> str:
    """Return the readable label of phase ``kind`` (the kind itself when unknown)."""
    if kind is None:
        return ""
    if kind.startswith("#"):
        return f"{gettext(FIELD_LABELS['fase'])} {kind[1:]}"
    return gettext(PHASE_LABELS[kind]) if kind in PHASE_LABELS else kind


def _moved(change: Change, gettext: Gettext, lang: str) -> str:
    before, after = change.before, change.after
    assert isinstance(before, Period)  # noqa: S101 - a move has both periods
    assert isinstance(after, Period)  # noqa: S101
    phase = phase_label(change.subject, gettext)
    if before.start != after.start and before.end == after.end:
        old, new, template = before.start, after.start, CHANGE_TEXTS["phase-moved"]
    elif before.start == after.start and before.end != after.end:
        old, new, template = before.end, after.end, CHANGE_TEXTS["phase-end-moved"]
    else:
        texts = (
            period_text(before.start, before.end, lang),
            period_text(after.start, after.end, lang),
        )
        values = {"phase": phase, "before": texts[0], "after": texts[1]}
        return gettext(CHANGE_TEXTS["phase-moved"]) % values
    first, last = parse_point(old or ""), parse_point(new or "")
    if first is not None and last is not None and first.year == last.year:
        texts = short_point_text(old or "", lang), short_point_text(new or "", lang)
    else:
        texts = point_text(old or "", lang), point_text(new or "", lang)
    return gettext(template) % {"phase": phase, "before": texts[0], "after": texts[1]}


def change_text(change: Change, gettext: Gettext, lang: str) -> str:
    """Return one change as a reader reads it (``genhusning flyttet fra uge 9 til uge 11``)."""
    if change.kind is ChangeKind.PHASE_MOVED:
        return _moved(change, gettext, lang)
    if change.kind is ChangeKind.PHASE_ADDED:
        period = change.after if isinstance(change.after, Period) else Period(None, None)
        values = {
            "phase": phase_label(change.subject, gettext),
            "period": period_text(period.start, period.end, lang),
        }
        return gettext(CHANGE_TEXTS["phase-added"]) % values
    if change.kind is ChangeKind.PHASE_REMOVED:
        return gettext(CHANGE_TEXTS["phase-removed"]) % {
            "phase": phase_label(change.subject, gettext)
        }
    label = FIELD_LABELS.get(change.subject, change.subject)
    values = {
        "field": gettext(label),
        "before": _text(change.before),
        "after": _text(change.after),
    }
    return gettext(CHANGE_TEXTS["field-changed"]) % values


def row_change(row: ListingRow, gettext: Gettext, lang: str) -> str:
    """Return the change column's text for ``row`` (``ny``, ``ændret: ...``, ``udgået``, or '')."""
    if row.status is RowStatus.NEW:
        return gettext(CHANGE_TEXTS["new"])
    if row.status is RowStatus.WITHDRAWN:
        return gettext(CHANGE_TEXTS["withdrawn"])
    if row.status is RowStatus.CHANGED:
        texts = "; ".join(change_text(change, gettext, lang) for change in row.changes)
        return gettext(CHANGE_TEXTS["changed"]) % {"changes": texts}
    return ""


def phase_line(phase: object, gettext: Gettext, lang: str) -> PhaseLine:
    """Return one released phase (its ``fase``, ``startdato``, ``slutdato``) as a line to show."""
    assert isinstance(phase, dict)  # noqa: S101 - released phases are mappings
    kind = phase.get("fase")
    start, end = phase.get("startdato"), phase.get("slutdato")
    start_text = None if start is None else str(start)
    end_text = None if end is None else str(end)
    return PhaseLine(
        kind=None if kind is None else str(kind),
        label=phase_label(None if kind is None else str(kind), gettext),
        period=period_text(start_text, end_text, lang),
        start=None if start_text is None else parse_point(start_text),
        end=None if end_text is None else parse_point(end_text),
    )


def _notes(found: Listing, gettext: Gettext) -> tuple[str, ...]:
    if found.purged:
        return (gettext(TEXTS["purged"]),)
    notes = []
    if found.previous is None:
        notes.append(gettext(TEXTS["first-list"]))
    elif found.previous_purged:
        notes.append(gettext(TEXTS["previous-purged"]))
    else:
        notes.append(gettext(TEXTS["previous"]) % {"release": found.previous.id})
    if found.left_out:
        notes.append(gettext(TEXTS["left-out"]) % {"count": found.left_out})
    if not found.rows:
        notes.append(gettext(TEXTS["no-rows"]))
    return tuple(notes)


def list_view(found: Listing, lang: str = "da") -> ListView:
    """Return ``found`` as it is shown in ``lang`` (``da`` or ``en``)."""
    gettext = gettext_for(lang)
    release = found.release
    trace = (
        (gettext(TEXTS["policy"]), release.policy_id),
        (gettext(TEXTS["policy-version"]), _text(found.policy_version)),
        (gettext(TEXTS["policy-hash"]), release.policy_hash),
        (gettext(TEXTS["release"]), release.id),
        (gettext(TEXTS["recipient"]), release.recipient),
        (gettext(TEXTS["created"]), release.created_at.isoformat(timespec="seconds")),
        (gettext(TEXTS["log-index"]), str(release.log_index)),
    )
    rows = tuple(
        TableRow(
            key=row.key,
            cells=tuple(_text(row.fields.get(name)) for name in found.field_names),
            phases=tuple(phase_line(dict(phase), gettext, lang) for phase in row.phases),
            status=None if row.status is None else row.status.value,
            change=row_change(row, gettext, lang),
        )
        for row in found.rows
    )
    return ListView(
        lang=lang,
        title=gettext(TEXTS["title"]),
        field_names=found.field_names,
        headings=tuple(gettext(FIELD_LABELS.get(n, n)) for n in found.field_names),
        has_phases=bool(found.phase_field_names),
        phase_heading=gettext(FIELD_LABELS["fase"]),
        rows=rows,
        notes=_notes(found, gettext),
        trace=trace,
        purged=found.purged,
        texts={name: gettext(message) for name, message in TEXTS.items()},
    )


def release_label(release: ReleaseSummary, lang: str = "da") -> str:
    """Return when ``release`` was made, as a link to it reads (``22. februar 2027 kl. 06.00``).

    In Danish time, whatever the server's zone.
    """
    return moment_text(release.created_at, lang)
