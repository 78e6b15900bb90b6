"""Ingest a housing company's schedule export: read, map, validate, drop, store.

Personal columns are dropped before anything is stored, and reported by the
catalogue's name for them, or by position when the catalogue does not know the
heading (:mod:`broker.ingest._mapping`). A bad row rejects the whole upload and
nothing is written.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog
from sqlalchemy.orm import Session

from broker.errors import Cancelled, InputError, Problem
from broker.ingest._json import parse_json_upload
from broker.ingest._mapping import ColumnMapping, resolve_columns
from broker.ingest._read import Table, check_cancel, detect_format, read_csv, read_xlsx
from broker.ingest._rows import Progress, parse_rows
from broker.renovation.preview import WithdrawGuard, preview_upload
from broker.renovation.service import ReplaceStats, replace_schedule
from schemas import ScheduleUpload

__all__ = [
    "IngestReport",
    "ParsedUpload",
    "check_org",
    "ingest_bytes",
    "ingest_file",
    "parse_org",
    "parse_upload",
    "read_upload",
    "store_upload",
]

log = structlog.get_logger(__name__)

_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


def parse_org(raw: str) -> str:
    """Return the organisation id, e.g. ``bo-vest``.

    Raises:
        InputError: not 2-40 lower-case letters, digits or hyphens.
    """
    if not _ORG.match(raw):
        raise InputError(
            "bad organisation",
            (Problem("must be 2-40 lower-case letters, digits or hyphens", column="--org"),),
        )
    return raw


def check_org(org: str, configured: Collection[str]) -> str:
    """Return ``org`` if the broker is configured for it (an agreement names it), else refuse.

    A typing error in an organisation's name would otherwise create a second one.

    Raises:
        InputError: ``org`` is malformed, or no agreement names it as the discloser.
    """
    org = parse_org(org)
    if org not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise InputError(
            "unknown organisation",
            (
                Problem(
                    f"not an organisation the broker is configured for ({known})", column="--org"
                ),
            ),
        )
    return org


@dataclass(frozen=True, slots=True)
class ParsedUpload:
    """A validated upload, before it is stored."""

    upload: ScheduleUpload
    source_format: str
    rows: int
    dropped_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What an accepted upload did: counts and the dropped columns (never a heading's own text)."""

    org: str
    source_format: str
    rows: int
    departments: tuple[str, ...]
    stats: ReplaceStats
    dropped_columns: tuple[str, ...]


def parse_table(
    table: Table,
    *,
    mapping: ColumnMapping | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ParsedUpload:
    """Validate a table read from CSV or XLSX.

    Raises:
        InputError: the columns do not fit or any row breaks a rule.
        Cancelled: ``cancel`` was set.
    """
    columns = resolve_columns(table.headings, mapping)
    upload = parse_rows(table, columns, progress=progress, cancel=cancel)
    return ParsedUpload(upload, table.source_format, len(table.rows), columns.dropped)


def _parse(  # noqa: PLR0913 - keyword-only options of one operation
    source_format: str,
    data: bytes,
    workbook: Path | IO[bytes],
    *,
    mapping: ColumnMapping | None,
    progress: Progress | None,
    cancel: threading.Event | None = None,
) -> ParsedUpload:
    if source_format == "json":
        upload, dropped = parse_json_upload(data)
        rows = sum(len(d.phases) for dep in upload.departments for d in dep.dwellings)
        return ParsedUpload(upload, "json", rows, dropped)
    # A national export is millions of small objects that all live until the
    # upload is built; cyclic garbage collection would walk them again and
    # again (it doubled the parse time), and they hold no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if source_format == "xlsx":
            table = read_xlsx(workbook, cancel=cancel)
        else:
            table = read_csv(data, cancel=cancel)
        return parse_table(table, mapping=mapping, progress=progress, cancel=cancel)
    finally:
        if collecting:
            gc.enable()


def read_upload(
    path: Path, *, mapping: ColumnMapping | None = None, progress: Progress | None = None
) -> ParsedUpload:
    """Read and validate an export file (CSV, XLSX or JSON) without storing anything.

    Raises:
        InputError: unreadable file, columns that do not fit, or any bad row.
    """
    source_format = detect_format(path)
    try:
        data = path.read_bytes() if source_format != "xlsx" else b""
    except OSError as exc:
        raise InputError("unreadable file", (Problem("the file cannot be read"),)) from exc
    return _parse(source_format, data, path, mapping=mapping, progress=progress)


def parse_upload(
    data: bytes,
    *,
    name: str,
    mapping: ColumnMapping | None = None,
    cancel: threading.Event | None = None,
) -> ParsedUpload:
    """Validate an export received as bytes; ``name``'s extension gives its format.

    The same rules as :func:`read_upload`; nothing is written anywhere, not even a
    temporary file. Setting ``cancel`` from another thread stops the work within a few
    thousand rows.

    Raises:
        InputError: an unsupported type, columns that do not fit, or any bad row.
        Cancelled: ``cancel`` was set.
    """
    source_format = detect_format(Path(name))
    return _parse(
        source_format, data, io.BytesIO(data), mapping=mapping, progress=None, cancel=cancel
    )


def store_upload(
    session: Session,
    parsed: ParsedUpload,
    *,
    org: str,
    now: dt.datetime,
    guard: WithdrawGuard | None = None,
) -> IngestReport:
    """Store a validated upload in the caller's transaction (flushes, never commits).

    With a ``guard``, an upload that would mark too many of a department's dwellings as
    no longer affected is refused first (nothing is written).

    Raises:
        Conflict: the guard refused the upload.
    """
    if guard is not None:
        guard.check(preview_upload(session, parsed.upload, org=org))
    stats = replace_schedule(
        session,
        org=org,
        upload=parsed.upload,
        now=now,
        source_format=parsed.source_format,
        rows=parsed.rows,
        dropped_columns=parsed.dropped_columns,
    )
    report = IngestReport(
        org=org,
        source_format=parsed.source_format,
        rows=parsed.rows,
        departments=tuple(d.afdeling for d in parsed.upload.departments),
        stats=stats,
        dropped_columns=parsed.dropped_columns,
    )
    log.info(
        "ingest.stored",
        org=org,
        departments=list(report.departments),
        rows=report.rows,
        dwellings=stats.dwellings,
        added=stats.added,
        withdrawn=stats.withdrawn,
        phases=stats.phases,
        dropped_columns=list(report.dropped_columns),
    )
    return report


def ingest_file(  # noqa: PLR0913 - keyword-only options of one operation
    session: Session,
    path: Path,
    *,
    org: str,
    now: dt.datetime,
    mapping: ColumnMapping | None = None,
    progress: Progress | None = None,
    guard: WithdrawGuard | None = None,
) -> IngestReport:
    """Read, validate and store an export in the caller's transaction.

    Raises:
        InputError: bad organisation, file, columns or rows; nothing is stored.
        Conflict: ``guard`` refused the upload; nothing is stored.
    """
    org = parse_org(org)
    try:
        parsed = read_upload(path, mapping=mapping, progress=progress)
    except InputError as exc:
        log.warning("ingest.rejected", org=org, problems=len(exc.problems))
        raise
    return store_upload(session, parsed, org=org, now=now, guard=guard)


def ingest_bytes(  # noqa: PLR0913 - keyword-only options of one operation
    session: Session,
    data: bytes,
    *,
    name: str,
    org: str,
    now: dt.datetime,
    cancel: threading.Event | None = None,
    guard: WithdrawGuard | None = None,
) -> IngestReport:
    """Validate and store an export received as bytes (an API upload) in the caller's transaction.

    ``name``'s extension gives the format, as a file's does for :func:`ingest_file`.
    ``cancel``, set from another thread (the client left, the server is stopping), stops
    the work before anything is stored.

    Raises:
        InputError: bad organisation, file type, columns or rows; nothing is stored.
        Cancelled: ``cancel`` was set; nothing is stored.
        Conflict: ``guard`` refused the upload; nothing is stored.
    """
    org = parse_org(org)
    try:
        parsed = parse_upload(data, name=name, cancel=cancel)
        check_cancel(cancel)
    except InputError as exc:
        log.warning("ingest.rejected", org=org, problems=len(exc.problems))
        raise
    except Cancelled:
        log.warning("ingest.cancelled", org=org)
        raise
    return store_upload(session, parsed, org=org, now=now, guard=guard)
